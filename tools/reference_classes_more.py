"""Reference data for the model-family scheduler classes (tests/reference_classes_more.hpp).

Runs diffusers' own CogVideoXDDIMScheduler, CogVideoXDPMScheduler, DDPMWuerstchenScheduler,
UnCLIPScheduler, CosineDPMSolverMultistepScheduler and DPMSolverMultistepInverseScheduler (snapshot 58eb52c0, offline: tools/diffusers_offline) with float32 and with float64
samples and writes, per configuration, the timesteps, the number of noise draws and both final samples
as C++ arrays:

  DIFFUSERS_SRC=/work/diffusers/src tools/diffusers_offline/python tools/reference_classes_more.py \
      > tests/reference_classes_more.hpp

Each run is the loop of the class's pipeline (CogVideoX: step(out, old_x0, t, t_back, x); Wuerstchen
and Stable Cascade: the model at timesteps[:-1], told t in [0, 1]; unCLIP: prev_timestep = the next grid
entry; Stable Audio: x_T = sample * init_noise_sigma, the network sees scale_model_input(x)) from the first sample of diffusers' test fixture (dummy_sample_deter[0:1], 192 values) with the
stand-in network of tools/reference_exponential.py, model(x, t) = tanh(x) (0.5 + t / 2000); a learned
variance is the channel block 0.8 tanh(x) - 0.1 after the prediction. Stochastic runs get their noise
from the scheduler module's randn_tensor, replaced by injected_noise(k) for the k-th draw: exact dyadic
values that the C++ test regenerates bit for bit and replays in the same order (CosineDPMSolverMultistep's
Brownian-tree noise sampler is replaced by the same draws, one per step).
"""
import contextlib
import sys
import types

import torch

# CosineDPMSolverMultistepScheduler's module imports torchsde for its Brownian tree (as
# tools/reference_kdiffusion.py notes for DPMSolverSDE); the noise is replaced by injected draws, so
# an empty module stands in for it (installed after diffusers' own import, which probes for torchsde).
import diffusers  # noqa: E402

sys.modules.setdefault("torchsde", types.ModuleType("torchsde"))

from diffusers import (CogVideoXDDIMScheduler, CogVideoXDPMScheduler, DDPMWuerstchenScheduler,
                       DPMSolverMultistepInverseScheduler, UnCLIPScheduler)
from diffusers.schedulers import (scheduling_cosine_dpmsolver_multistep, scheduling_ddim_cogvideox,
                                  scheduling_ddpm_wuerstchen, scheduling_dpm_cogvideox,
                                  scheduling_dpmsolver_multistep_inverse, scheduling_unclip)
from diffusers.schedulers.scheduling_cosine_dpmsolver_multistep import CosineDPMSolverMultistepScheduler

torch.set_grad_enabled(False)

SIZE = 192


def sample0(dtype):
    full = (torch.arange(768, dtype=torch.float32).reshape(3, 8, 8, 4) / 768).permute(3, 0, 1, 2)
    return full[0:1].contiguous().to(dtype)


def model(x, t, learned_variance=False):
    out = torch.tanh(x) * float(0.5 + float(t) / 2000.0)
    return torch.cat([out, 0.8 * torch.tanh(x) - 0.1], dim=1) if learned_variance else out


def injected_noise(k):
    i = torch.arange(SIZE, dtype=torch.int64)
    return (((i * 37 + k * 101) % 257 - 128).to(torch.float64) / 64.0).reshape(1, 3, 8, 8)


class NoiseRecorder:
    def __init__(self):
        self.draws = 0

    def __call__(self, shape, generator=None, device=None, dtype=None, **kwargs):
        z = injected_noise(self.draws).reshape(shape).to(dtype or torch.float32)
        self.draws += 1
        return z


MODULES = (scheduling_ddim_cogvideox, scheduling_dpm_cogvideox, scheduling_ddpm_wuerstchen, scheduling_unclip,
           scheduling_cosine_dpmsolver_multistep, scheduling_dpmsolver_multistep_inverse)


class Float32AsFloat64:
    """torch as the scheduler modules see it in the float64 runs: torch.float32 reads as torch.float64."""

    def __getattr__(self, name):
        return torch.float64 if name == "float32" else getattr(torch, name)


@contextlib.contextmanager
def float64_tables(enabled):
    """In float64 runs the scheduler's tables (betas, alphas_cumprod, sigmas, Wuerstchen's s, ...) are
    built by the class's own code in float64 (float32 read as float64, float64 the default dtype), so
    that the step's arithmetic is float64 as the double C++ run's is. (Built in float32, a float64
    sample still gets float32 coefficients: UnCLIP's 1 - (1 - alphabar_999 / alphabar_888) keeps one
    digit there.)"""
    if not enabled:
        yield
        return
    torch.set_default_dtype(torch.float64)
    for module in MODULES:
        module.torch = Float32AsFloat64()
    try:
        yield
    finally:
        for module in MODULES:
            module.torch = torch
        torch.set_default_dtype(torch.float32)


def run(cls, steps, dtype, config):
    recorder = NoiseRecorder()
    for module in MODULES:
        module.randn_tensor = recorder
    # CosineDPMSolverMultistep draws from a Brownian tree, noise_sampler(sigma, sigma_next) once a step.
    scheduling_cosine_dpmsolver_multistep.BrownianTreeNoiseSampler = (
        lambda x, **kwargs: lambda sigma, sigma_next: recorder(x.shape, dtype=x.dtype))
    with float64_tables(dtype == torch.float64):
        scheduler = cls(**config)
    # Wuerstchen's times stay float32 in both runs, as its pipelines have them.
    with float64_tables(dtype == torch.float64 and cls is not DDPMWuerstchenScheduler):
        scheduler.set_timesteps(steps)
    timesteps = scheduler.timesteps
    x = sample0(dtype)
    if cls is CogVideoXDPMScheduler:
        old = None
        for i, t in enumerate(timesteps):
            back = timesteps[i - 1] if i > 0 else None
            x, old = scheduler.step(model(x, t), old, t, back, x, return_dict=False)
        used = timesteps
    elif cls is DDPMWuerstchenScheduler:
        used = timesteps[:-1]
        for t in used:
            x = scheduler.step(model(x, t), t.expand(1).to(dtype), x).prev_sample
    elif cls is UnCLIPScheduler:
        learned = config.get("variance_type") == "learned_range"
        for i, t in enumerate(timesteps):
            prev = timesteps[i + 1] if i + 1 < len(timesteps) else None
            x = scheduler.step(model(x, t, learned), t, x, prev_timestep=prev).prev_sample
        used = timesteps
    elif cls is CosineDPMSolverMultistepScheduler:
        # Stable Audio's loop: x_T = noise * init_noise_sigma, the network sees scale_model_input(x) = c_in x.
        x = x * scheduler.init_noise_sigma
        for t in timesteps:
            x = scheduler.step(model(scheduler.scale_model_input(x, t), t), t, x).prev_sample
        used = timesteps
    else:
        for t in timesteps:
            x = scheduler.step(model(x, t), t, x).prev_sample
        used = timesteps
    assert x.dtype == dtype
    return used, x, recorder.draws


def fmt(values, digits):
    return ", ".join(("%." + str(digits) + "g") % float(v) for v in values)


# CogVideoX-2b's and -5b's shipped configs (THUDM/CogVideoX-2b, -5b scheduler_config.json) and variations.
COGVIDEOX_2B = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                    prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True,
                    snr_shift_scale=3.0, steps_offset=0, timestep_spacing="trailing")
COGVIDEOX_5B = dict(COGVIDEOX_2B, snr_shift_scale=1.0)

CONFIGS = [
    # name, class, steps, config
    ("cogvideox_ddim_2b", CogVideoXDDIMScheduler, 12, COGVIDEOX_2B),
    ("cogvideox_ddim_5b_linspace", CogVideoXDDIMScheduler, 10,
     dict(COGVIDEOX_5B, timestep_spacing="linspace", set_alpha_to_one=False)),
    ("cogvideox_ddim_defaults", CogVideoXDDIMScheduler, 10, dict()),
    ("cogvideox_ddim_linear_sample", CogVideoXDDIMScheduler, 10,
     dict(beta_schedule="linear", beta_start=0.0001, beta_end=0.02, prediction_type="sample", snr_shift_scale=2.0,
          steps_offset=1)),
    ("cogvideox_dpm_2b", CogVideoXDPMScheduler, 12, COGVIDEOX_2B),
    ("cogvideox_dpm_5b", CogVideoXDPMScheduler, 10, COGVIDEOX_5B),
    ("cogvideox_dpm_defaults", CogVideoXDPMScheduler, 10, dict()),
    ("cogvideox_dpm_cosine_sample_linspace", CogVideoXDPMScheduler, 10,
     dict(beta_schedule="squaredcos_cap_v2", prediction_type="sample", set_alpha_to_one=False,
          timestep_spacing="linspace")),
    ("wuerstchen_defaults", DDPMWuerstchenScheduler, 10, dict()),
    ("wuerstchen_scaler_2", DDPMWuerstchenScheduler, 8, dict(scaler=2.0, s=0.01)),
    ("wuerstchen_scaler_half", DDPMWuerstchenScheduler, 12, dict(scaler=0.5)),
    # Inversion (data to noise) from the test sample; its set_timesteps rounds sigmas to float32 in both runs.
    ("inverse_defaults", DPMSolverMultistepInverseScheduler, 10, dict()),
    ("inverse_long", DPMSolverMultistepInverseScheduler, 20, dict()),
    ("inverse_order3_v_leading", DPMSolverMultistepInverseScheduler, 12,
     dict(solver_order=3, prediction_type="v_prediction", beta_schedule="scaled_linear", beta_start=0.00085,
          beta_end=0.012, timestep_spacing="leading", steps_offset=1)),
    ("inverse_noise_heun_cosine_clipped", DPMSolverMultistepInverseScheduler, 10,
     dict(algorithm_type="dpmsolver", solver_type="heun", beta_schedule="squaredcos_cap_v2", lambda_min_clipped=-5.1,
          lower_order_final=False)),
    # Stable Audio Open's shipped config (stabilityai/stable-audio-open-1.0) is the class's defaults.
    ("cosine_defaults", CosineDPMSolverMultistepScheduler, 10, dict()),
    ("cosine_karras_epsilon_heun", CosineDPMSolverMultistepScheduler, 12,
     dict(sigma_schedule="karras", prediction_type="epsilon", solver_type="heun", sigma_data=0.5, sigma_max=80.0,
          sigma_min=0.01, rho=5.0)),
    ("cosine_order1_long", CosineDPMSolverMultistepScheduler, 20, dict(solver_order=1, lower_order_final=False)),
    ("unclip_defaults", UnCLIPScheduler, 10, dict()),
    ("unclip_sample_unclipped", UnCLIPScheduler, 7, dict(prediction_type="sample", clip_sample=False)),
    ("unclip_learned_range", UnCLIPScheduler, 10, dict(variance_type="learned_range", clip_sample_range=2.0)),
]


def main():
    print("// Generated by tools/reference_classes_more.py from diffusers' schedulers (snapshot 58eb52c0):")
    print("// see the script for the loops, the model and the injected noise. Do not edit.")
    print("#pragma once")
    print()
    print("#include <vector>")
    print()
    print("namespace reference_classes_more {")
    print()
    print("struct run {")
    print("    std::vector<double> timesteps;  // what the model was told, in order")
    print("    int noise_draws;                // randn_tensor calls")
    print("    std::vector<float> single;      // the final sample of the float32 run, 192 values")
    print("    std::vector<double> twice;      // the final sample of the float64 run")
    print("};")
    print()
    for name, cls, steps, config in CONFIGS:
        used, single, draws = run(cls, steps, torch.float32, config)
        _, twice, draws64 = run(cls, steps, torch.float64, config)
        assert draws == draws64
        print("// %s, %d steps, %s" % (cls.__name__, steps,
                                      ", ".join("%s=%r" % kv for kv in config.items()) or "defaults"))
        print("inline const run %s{" % name)
        print("    {%s}," % fmt(used.numpy(), 9))
        print("    %d," % draws)
        print("    {%s}," % fmt(single.flatten().numpy(), 9))
        print("    {%s}};" % fmt(twice.flatten().numpy(), 17))
        print()
    print("}  // namespace reference_classes_more")


if __name__ == "__main__":
    main()
