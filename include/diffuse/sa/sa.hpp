// diffuse/sa/sa.hpp: umbrella header for stochastic approximation.
#pragma once

#include "diffuse/sa/adam.hpp"
#include "diffuse/sa/averaging.hpp"
#include "diffuse/sa/batch_sampler.hpp"
#include "diffuse/sa/kiefer_wolfowitz.hpp"
#include "diffuse/sa/momentum.hpp"
#include "diffuse/sa/optimizer.hpp"
#include "diffuse/sa/robbins_monro.hpp"
#include "diffuse/sa/sgd.hpp"
#include "diffuse/sa/spsa.hpp"
#include "diffuse/sa/step_size.hpp"
#include "diffuse/sa/welford.hpp"
