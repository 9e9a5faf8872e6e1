// diffuse/ode/ode.hpp: the ODE integrators (docs/ode.md).
#pragma once

#include "diffuse/ode/adaptive.hpp"
#include "diffuse/ode/butcher.hpp"
#include "diffuse/ode/explicit_runge_kutta.hpp"
#include "diffuse/ode/initial_step.hpp"
#include "diffuse/ode/integrate_fixed.hpp"
#include "diffuse/ode/norm.hpp"
#include "diffuse/ode/step_size_controller.hpp"
#include "diffuse/ode/system.hpp"
