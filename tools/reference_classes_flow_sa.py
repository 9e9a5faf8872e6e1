"""Reference data for SASolverScheduler, FlowMapEulerDiscreteScheduler, LTXEulerAncestralRFScheduler,
SCMScheduler and RePaintScheduler (tests/reference_classes_flow_sa.hpp).

Runs diffusers' own classes (snapshot 58eb52c0, offline: tools/diffusers_offline) and writes, per
configuration, the sigmas, the timesteps, the number of noise draws and the final sample as C++ arrays:

  DIFFUSERS_SRC=/work/diffusers/src tools/diffusers_offline/python tools/reference_classes_flow_sa.py \
      > tests/reference_classes_flow_sa.hpp

The loop, the model and the noise are tools/reference_exponential.py's: diffusers' test loop A
(x = step(model(x, t), t, x)) from the first sample of the test fixture (192 values) with
model(x, t) = tanh(x) (0.5 + t / 2000), and the k-th randn_tensor call replaced by exact dyadic
values that the C++ test regenerates. Each run is made twice: as diffusers runs it (float32 sample
and schedule), and in float64 (the sample, the model and, for SASolver, the sigmas cast to float64
after set_timesteps, so that its coefficients are computed in float64 too), the reference for the
C++ double runs (SCMScheduler: its angles cast to float64; RePaintScheduler: its betas computed in float64).
RePaint runs RePaintPipeline's loop (undo_step on the steps up) with known_image() and repaint_mask().
"""
import numpy as np
import torch

from diffusers import (FlowMapEulerDiscreteScheduler, LTXEulerAncestralRFScheduler, RePaintScheduler, SASolverScheduler,
                       SCMScheduler)
from diffusers.schedulers import (scheduling_ltx_euler_ancestral_rf, scheduling_repaint, scheduling_sasolver,
                                  scheduling_scm)

torch.set_grad_enabled(False)

SIZE = 192


def sample0(dtype):
    full = (torch.arange(768, dtype=dtype).reshape(3, 8, 8, 4) / 768).permute(3, 0, 1, 2)
    return full[0:1].contiguous()


def model(x, t):
    return torch.tanh(x) * float(0.5 + float(t) / 2000.0)


def known_image(dtype):
    """RePaint's image to keep: 1.5 sample0 - 0.5."""
    return sample0(dtype) * 1.5 - 0.5


def repaint_mask(dtype):
    """RePaint's mask over the flat sample: 1 at i % 3 == 0, 0.5 at i % 3 == 1 with i % 5 == 0, else 0."""
    i = torch.arange(SIZE)
    m = torch.where(i % 3 == 0, 1.0, torch.where((i % 3 == 1) & (i % 5 == 0), 0.5, 0.0))
    return m.to(dtype).reshape(1, 3, 8, 8)


def injected_noise(k, dtype):
    i = torch.arange(SIZE, dtype=torch.int64)
    return (((i * 37 + k * 101) % 257 - 128).to(torch.float64) / 64.0).reshape(1, 3, 8, 8).to(dtype)


class NoiseRecorder:
    # SCMScheduler asks randn_tensor for no dtype (float32 by default): the float64 runs get float64 noise
    def __init__(self, default_dtype):
        self.draws = 0
        self.default_dtype = default_dtype

    def __call__(self, shape, generator=None, device=None, dtype=None, **kwargs):
        z = injected_noise(self.draws, dtype or self.default_dtype).reshape(shape)
        self.draws += 1
        return z


def run(cls, steps, dtype, **config):
    recorder = NoiseRecorder(dtype)
    scheduling_sasolver.randn_tensor = recorder
    scheduling_ltx_euler_ancestral_rf.randn_tensor = recorder
    scheduling_scm.randn_tensor = recorder
    scheduling_repaint.randn_tensor = recorder
    timestep_args = config.pop("set_timesteps", {})
    scheduler = cls(**config)
    scheduler.set_timesteps(steps, **timestep_args)
    config["set_timesteps"] = timestep_args
    sigmas = scheduler.sigmas.clone() if hasattr(scheduler, "sigmas") else scheduler.timesteps.clone()
    if dtype == torch.float64 and cls is SASolverScheduler:
        scheduler.sigmas = scheduler.sigmas.double()
    if dtype == torch.float64 and cls is SCMScheduler:
        scheduler.timesteps = scheduler.timesteps.double()
    x = sample0(dtype)
    if cls is RePaintScheduler:
        if dtype == torch.float64:  # its betas as __init__ computes them, in float64
            c = scheduler.config
            if c.beta_schedule == "scaled_linear":
                betas = torch.linspace(c.beta_start**0.5, c.beta_end**0.5, c.num_train_timesteps, dtype=dtype) ** 2
            else:
                assert c.beta_schedule == "linear"
                betas = torch.linspace(c.beta_start, c.beta_end, c.num_train_timesteps, dtype=dtype)
            scheduler.betas = betas
            scheduler.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
            scheduler.final_alpha_cumprod = scheduler.final_alpha_cumprod.double()
        # RePaintPipeline's loop: a step down evaluates the model, a step up is undo_step
        image, mask = known_image(dtype), repaint_mask(dtype)
        t_last = scheduler.timesteps[0] + 1
        for t in scheduler.timesteps:
            if t < t_last:
                x = scheduler.step(model(x, t).to(dtype), t, x, image, mask).prev_sample
            else:
                x = scheduler.undo_step(x, t_last)
            t_last = t
        assert x.dtype == dtype, (cls.__name__, x.dtype)
        return scheduler.timesteps.double(), scheduler.timesteps, x, recorder.draws
    # SCMScheduler's timesteps end with the final angle 0, which its pipeline (Sana-Sprint) does not step from
    timesteps = scheduler.timesteps[:-1] if cls is SCMScheduler else scheduler.timesteps
    for t in timesteps:
        x = scheduler.step(model(x, t).to(dtype), t, x).prev_sample
    assert x.dtype == dtype, (cls.__name__, x.dtype)
    return sigmas, timesteps, x, recorder.draws


def fmt(values, digits=9):
    return ", ".join(("%." + str(digits) + "g") % float(v) for v in values)


SCALED = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)

# name, class, steps, config, tau as (inside, outside, from, to) for the C++ side (None: not SASolver)
CONFIGS = [
    ("sa_default", SASolverScheduler, 10, dict(), (1.0, 0.0, 200.0, 800.0)),
    ("sa_order3_v", SASolverScheduler, 12,
     dict(predictor_order=3, corrector_order=3, prediction_type="v_prediction", **SCALED), (1.0, 0.0, 200.0, 800.0)),
    # the ODE (tau_func = 0): diffusers still draws, the C++ run gets no noise
    ("sa_ode_order4", SASolverScheduler, 12,
     dict(predictor_order=4, corrector_order=4, tau_func=lambda t: 0), (0.0, 0.0, 200.0, 800.0)),
    ("sa_sde_trailing_no_lower_final", SASolverScheduler, 10,
     dict(predictor_order=3, corrector_order=1, lower_order_final=False, timestep_spacing="trailing",
          tau_func=lambda t: 1), (1.0, 1.0, 200.0, 800.0)),
    ("sa_noise_prediction", SASolverScheduler, 10,
     dict(algorithm_type="noise_prediction", predictor_order=3, corrector_order=2), (1.0, 0.0, 200.0, 800.0)),
    ("sa_noise_sample_sde", SASolverScheduler, 10,
     dict(algorithm_type="noise_prediction", prediction_type="sample", tau_func=lambda t: 1),
     (1.0, 1.0, 200.0, 800.0)),
    ("sa_cosine_clipped_leading", SASolverScheduler, 10,
     dict(beta_schedule="squaredcos_cap_v2", lambda_min_clipped=-5.1, timestep_spacing="leading", steps_offset=1,
          corrector_order=3), (1.0, 0.0, 200.0, 800.0)),
    ("sa_thresholding", SASolverScheduler, 10,
     dict(thresholding=True, sample_max_value=1.5, dynamic_thresholding_ratio=0.9, prediction_type="sample"),
     (1.0, 0.0, 200.0, 800.0)),
    ("flow_map_default", FlowMapEulerDiscreteScheduler, 4, dict(), None),
    ("flow_map_shift3", FlowMapEulerDiscreteScheduler, 8, dict(shift=3.0), None),
    ("ltx_default", LTXEulerAncestralRFScheduler, 10, dict(), None),
    ("ltx_eta_half", LTXEulerAncestralRFScheduler, 8, dict(eta=0.5, s_noise=0.8, num_train_timesteps=1000), None),
    ("ltx_eta_zero", LTXEulerAncestralRFScheduler, 6, dict(eta=0.0), None),
    # SCMScheduler: its default 2-step angles, and linspace angles (set_timesteps(intermediate_timesteps=None))
    ("scm_default", SCMScheduler, 2, dict(), None),
    ("scm_linspace", SCMScheduler, 4, dict(sigma_data=0.7, set_timesteps=dict(intermediate_timesteps=None)), None),
    # RePaintScheduler with RePaintPipeline's loop (the timesteps include the jumps back up)
    ("repaint_jumps", RePaintScheduler, 10, dict(set_timesteps=dict(jump_length=3, jump_n_sample=2)), None),
    ("repaint_eta_scaled", RePaintScheduler, 8,
     dict(eta=0.7, clip_sample=False, set_timesteps=dict(jump_length=2, jump_n_sample=3), **SCALED), None),
]


def main():
    print("// Generated by tools/reference_classes_flow_sa.py from diffusers' SASolverScheduler,")
    print("// FlowMapEulerDiscreteScheduler and LTXEulerAncestralRFScheduler (snapshot 58eb52c0): see the")
    print("// script for the loop, the model and the injected noise. Do not edit.")
    print("#pragma once")
    print()
    print("#include <vector>")
    print()
    print("namespace reference_classes_flow_sa {")
    print()
    print("struct run {")
    print("    std::vector<double> sigmas;     // scheduler.sigmas (float32 for SASolver, LTX); SCM: its angles;")
    print("                                    // RePaint: its timesteps")
    print("    std::vector<double> timesteps;  // scheduler.timesteps")
    print("    int noise_draws;                // randn_tensor calls")
    print("    std::vector<float> sample;      // the final sample of the float32 run, 192 values")
    print("    std::vector<double> sample64;   // the final sample of the float64 run")
    print("};")
    print()
    for name, cls, steps, config, _ in CONFIGS:
        sigmas, timesteps, x, draws = run(cls, steps, torch.float32, **config)
        _, _, x64, draws64 = run(cls, steps, torch.float64, **config)
        assert draws == draws64
        shown = ", ".join("%s=%r" % (k, v) for k, v in config.items() if k != "tau_func" and v != {})
        if "tau_func" in config:
            shown += ", tau_func=%s" % ("0" if config["tau_func"](500) == 0 else "1")
        print("// %s, %d steps, %s" % (cls.__name__, steps, shown or "defaults"))
        print("inline const run %s{" % name)
        print("    {%s}," % fmt(sigmas.numpy(), 17))
        print("    {%s}," % fmt(timesteps.numpy(), 17))
        print("    %d," % draws)
        print("    {%s}," % fmt(x.flatten().numpy()))
        print("    {%s}};" % fmt(x64.flatten().numpy(), 17))
        print()
    print("}  // namespace reference_classes_flow_sa")


if __name__ == "__main__":
    main()
