// diffuse/nn/activations.hpp: every activation function (umbrella header). See
// docs/activations.md for the catalogue, definitions, accuracy and speed.
#pragma once

#include "diffuse/nn/elementwise.hpp"
#include "diffuse/nn/exponential.hpp"
#include "diffuse/nn/gated.hpp"
#include "diffuse/nn/gelu.hpp"
#include "diffuse/nn/hard.hpp"
#include "diffuse/nn/logistic.hpp"
#include "diffuse/nn/relu.hpp"
#include "diffuse/nn/softplus.hpp"
#include "diffuse/nn/step.hpp"
#include "diffuse/nn/tanh.hpp"
