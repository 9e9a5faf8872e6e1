// diffuse/sde/sde.hpp: score SDEs (docs/sde.md): reverse-time SDE and probability flow of any
// process, the PF-ODE sampler and encoder, likelihoods, the predictor-corrector sampler and diffusers'
// ScoreSdeVeScheduler run.
#pragma once

#include "diffuse/sde/likelihood.hpp"
#include "diffuse/sde/pf_ode_sampler.hpp"
#include "diffuse/sde/predictor_corrector.hpp"
#include "diffuse/sde/reverse_sde.hpp"
#include "diffuse/sde/score.hpp"
#include "diffuse/sde/score_sde_ve.hpp"
