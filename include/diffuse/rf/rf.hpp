// diffuse/rf/rf.hpp: umbrella header of the receptive-field calculators.
//
//   fraction.hpp     exact rational arithmetic (fractional strides of upsampling layers)
//   layer.hpp        layers as constexpr data: conv, pool, pad, pointwise, transposed conv, upsampling
//   step.hpp         one layer on one axis: the affine window map, TensorFlow 'SAME', output sizes
//   field.hpp        results: size, effective stride and padding, region and centre of a unit
//   sequential.hpp   single-path networks: top-down recurrence, bottom-up jump/start, closed form
//   network.hpp      networks as graphs with add / concat merges
//   graph_field.hpp  graph fields with the alignment check (forward and top-down)
//   description.hpp  networks read from a line-based text description
//   zoo.hpp          AlexNet, VGG-16, ResNets, MobileNet v1, Inception v3, Stable Diffusion encoders
#pragma once

#include "diffuse/rf/description.hpp"
#include "diffuse/rf/field.hpp"
#include "diffuse/rf/fraction.hpp"
#include "diffuse/rf/graph_field.hpp"
#include "diffuse/rf/layer.hpp"
#include "diffuse/rf/network.hpp"
#include "diffuse/rf/sequential.hpp"
#include "diffuse/rf/step.hpp"
#include "diffuse/rf/zoo.hpp"
