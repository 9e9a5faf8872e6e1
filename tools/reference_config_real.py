"""Reference data for the published-config tests (tests/reference_config_real.hpp).

Runs diffusers' own schedulers (snapshot 58eb52c0, offline: tools/diffusers_offline, float32) on the
configurations that published scheduler_config.json files use and that issue 19 found broken in the
facade: trailing/linspace spacing with steps_offset = 1 (SDXL-Turbo's EulerAncestral among them),
DDIM's step(eta=...) with set_alpha_to_one, EulerDiscrete with timestep_type "continuous" (Stable
Video Diffusion), IPNDM's default grid, and FLUX.1-dev's dynamic shifting with mu from the image
sequence length (the pipelines' calculate_shift, written out below as diffusers' pipelines define it).

Every run is the loop of tools/reference_kdiffusion.py's diffusers traces: x = sample0[:1, :1]
(64 values) * init_noise_sigma; for each t: out = smooth(scale_model_input(x, t), t), x = step(out, t, x),
with smooth(x, t) = tanh(x) (0.5 + t / 2000). Stochastic steps draw torch.randn under a fixed seed
through the scheduler module's randn_tensor, replaced by a recorder: every draw is written out, the
ones a zero multiplies included, so the C++ test replays the same stream and checks it used all of it.

  DIFFUSERS_SRC=/tmp/diffusers/src tools/diffusers_offline/python tools/reference_config_real.py \
      > tests/reference_config_real.hpp
"""
import torch

from diffusers import (DDIMInverseScheduler, DDIMParallelScheduler, DDIMScheduler, DDPMParallelScheduler, DDPMScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler,
                       FlowMatchEulerDiscreteScheduler, IPNDMScheduler, LMSDiscreteScheduler, PNDMScheduler)
from diffusers.schedulers import (scheduling_ddim, scheduling_ddim_parallel, scheduling_ddpm, scheduling_ddpm_parallel,
                                  scheduling_euler_ancestral_discrete)

torch.set_grad_enabled(False)


def sample0():
    return (torch.arange(768, dtype=torch.float32).reshape(3, 8, 8, 4) / 768).permute(3, 0, 1, 2)[:1, :1]


def smooth(x, t):
    return torch.tanh(x) * float(0.5 + float(t) / 2000.0)


def fmt(values):
    return ", ".join("%.9g" % float(v) for v in values)


class Recorder:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.draws = []

    def __call__(self, shape, *args, **kwargs):
        z = torch.randn(shape, generator=self.g, dtype=torch.float32)
        self.draws.append(z.flatten().clone())
        return z


def calculate_shift(image_seq_len, base_seq_len=256, max_seq_len=4096, base_shift=0.5, max_shift=1.15):
    # diffusers' pipelines (pipeline_flux.py, pipeline_stable_diffusion_3.py): mu linear in the length.
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    return image_seq_len * m + (base_shift - m * base_seq_len)


SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
# SD 1.5's shipped keys that matter here: steps_offset 1, set_alpha_to_one false, clip_sample false.
SD15 = dict(SD, steps_offset=1, set_alpha_to_one=False, clip_sample=False)
FLUX_DEV = dict(base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096, max_shift=1.15, num_train_timesteps=1000,
                shift=3.0, use_dynamic_shifting=True)

CASES = [
    # name, class, steps, config, step keywords, set_timesteps keywords
    ("ddim_trailing_offset", DDIMScheduler, 10, dict(SD15, timestep_spacing="trailing"), {}, {}),
    # DDIM steps to t - T // n and this library to the next grid entry (docs/schedule.md): the same for
    # trailing spacing when n divides T, so the stochastic DDIM and PRK cases use trailing spacing.
    ("ddim_trailing_offset_eta", DDIMScheduler, 10,
     dict(SD, steps_offset=1, clip_sample=False, set_alpha_to_one=True, timestep_spacing="trailing"), dict(eta=0.5), {}),
    ("ddpm_trailing_offset", DDPMScheduler, 10, dict(SD15, timestep_spacing="trailing"), {}, {}),
    # The Parallel classes' sequential step() (their batch_step_no_noise is not part of the facade).
    ("ddim_parallel_eta", DDIMParallelScheduler, 10,
     dict(SD, steps_offset=1, clip_sample=False, set_alpha_to_one=True, timestep_spacing="trailing"), dict(eta=0.5), {}),
    ("ddpm_parallel_v", DDPMParallelScheduler, 10, dict(SD15, prediction_type="v_prediction", timestep_spacing="leading"),
     {}, {}),
    ("pndm_trailing_offset", PNDMScheduler, 10, dict(SD15, skip_prk_steps=True, timestep_spacing="trailing"), {}, {}),
    ("pndm_trailing_offset_prk", PNDMScheduler, 10, dict(SD15, skip_prk_steps=False, timestep_spacing="trailing"), {}, {}),
    ("euler_trailing_offset", EulerDiscreteScheduler, 10, dict(SD15, timestep_spacing="trailing"), {}, {}),
    ("euler_linspace_offset", EulerDiscreteScheduler, 10, dict(SD15, timestep_spacing="linspace"), {}, {}),
    # SDXL-Turbo's scheduler/scheduler_config.json (EulerAncestral, trailing, steps_offset 1), 1 and 4 steps.
    ("sdxl_turbo_1", EulerAncestralDiscreteScheduler, 1, dict(SD15, timestep_spacing="trailing"), {}, {}),
    ("sdxl_turbo_4", EulerAncestralDiscreteScheduler, 4, dict(SD15, timestep_spacing="trailing"), {}, {}),
    ("lms_trailing_offset", LMSDiscreteScheduler, 10, dict(SD15, timestep_spacing="trailing"), {}, {}),
    # Stable Video Diffusion's scheduler_config.json.
    ("svd_continuous", EulerDiscreteScheduler, 8,
     dict(SD15, interpolation_type="linear", prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
          timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True), {}, {}),
    ("ipndm_default", IPNDMScheduler, 10, dict(), {}, {}),
    # FLUX.1-dev's scheduler config at 1024x1024 (image_seq_len 4096).
    ("flux_dev_4096", FlowMatchEulerDiscreteScheduler, 6, FLUX_DEV, {}, dict(mu=calculate_shift(4096))),
    ("flux_dev_1024", FlowMatchEulerDiscreteScheduler, 6, FLUX_DEV, {}, dict(mu=calculate_shift(1024))),
    # DDIM and PNDM step to prev_timestep = t - T // n, not to the next grid entry: SD 1.5 switched to
    # linspace spacing, and trailing with 7 steps (7 does not divide 1000); the facade follows that rule
    # (sampler/step_target.hpp). DDPM's previous_timestep() is the next grid entry (checked likewise).
    ("ddim_linspace_7", DDIMScheduler, 7, dict(SD15, timestep_spacing="linspace"), {}, {}),
    ("ddim_linspace_20", DDIMScheduler, 20, dict(SD15, timestep_spacing="linspace"), {}, {}),
    ("ddim_trailing_7", DDIMScheduler, 7, dict(SD15, timestep_spacing="trailing"), {}, {}),
    ("ddim_linspace_7_eta", DDIMScheduler, 7, dict(SD15, timestep_spacing="linspace"), dict(eta=0.5), {}),
    ("ddpm_linspace_7", DDPMScheduler, 7, dict(SD15, timestep_spacing="linspace"), {}, {}),
    ("ddpm_trailing_7", DDPMScheduler, 7, dict(SD15, timestep_spacing="trailing"), {}, {}),
    ("pndm_linspace_7", PNDMScheduler, 7, dict(SD15, skip_prk_steps=True, timestep_spacing="linspace"), {}, {}),
    ("pndm_linspace_20", PNDMScheduler, 20, dict(SD15, skip_prk_steps=True, timestep_spacing="linspace"), {}, {}),
    ("pndm_trailing_7", PNDMScheduler, 7, dict(SD15, skip_prk_steps=True, timestep_spacing="trailing"), {}, {}),
    ("pndm_linspace_7_prk", PNDMScheduler, 7, dict(SD15, skip_prk_steps=False, timestep_spacing="linspace"), {}, {}),
    ("pndm_trailing_7_prk", PNDMScheduler, 7, dict(SD15, skip_prk_steps=False, timestep_spacing="trailing"), {}, {}),
    # DDIMInverseScheduler steps from t - T // n to t (it has leading and trailing spacing only).
    ("ddim_inverse_trailing_7", DDIMInverseScheduler, 7, dict(SD15, timestep_spacing="trailing"), {}, {}),
]


def trace(name, cls, steps, config, step_kwargs, set_kwargs, seed):
    s = cls.from_config(config)  # as a pipeline loads a shipped config (keys of other classes ignored)
    s.set_timesteps(steps, **set_kwargs)
    rec = Recorder(seed)
    for module in (scheduling_ddim, scheduling_ddpm, scheduling_euler_ancestral_discrete, scheduling_ddim_parallel,
                   scheduling_ddpm_parallel):
        module.randn_tensor = rec
    # DDPM draws with torch.randn through randn_tensor too; PNDM, Euler, LMS, IPNDM and FlowMatch do not draw.
    x = sample0() * float(getattr(s, "init_noise_sigma", 1.0))
    times = []
    for t in s.timesteps:
        inp = s.scale_model_input(x, t) if hasattr(type(s), "scale_model_input") else x
        times.append(float(t))
        x = s.step(smooth(inp, t), t, x, **step_kwargs).prev_sample
    draws = torch.cat(rec.draws).tolist() if rec.draws else []
    print("// %s, %d steps, %s%s" % (cls.__name__, steps, ", ".join("%s=%r" % kv for kv in config.items()) or "defaults",
                                     "".join(", step %s=%r" % kv for kv in step_kwargs.items()) +
                                     "".join(", set_timesteps %s=%r" % kv for kv in set_kwargs.items())))
    print("inline const trace %s{{%s}, %r, %d,\n    {%s},\n    {%s}};" % (
        name, fmt(times), float(getattr(s, "init_noise_sigma", 1.0)), len(rec.draws), fmt(draws),
        fmt(x.flatten().tolist())))


print("// Generated by tools/reference_config_real.py from diffusers' schedulers (snapshot 58eb52c0,")
print("// float32): see the script for the loop, the model and the recorded noise. Do not edit.")
print("#pragma once")
print()
print("#include <vector>")
print()
print("namespace reference_config_real {")
print()
print("struct trace {")
print("    std::vector<double> model_times;  // scheduler.timesteps: what the network is told, in order")
print("    double init_noise_sigma;")
print("    int draws;                        // randn_tensor calls (64 values each), zero-weighted ones included")
print("    std::vector<float> noise;         // every draw, in order")
print("    std::vector<float> x;             // the final sample (64 values)")
print("};")
print()
print("// FLUX.1-dev's mu at image_seq_len 4096 and 1024 (calculate_shift with the config's keys).")
print("inline constexpr double flux_mu_4096 = %r, flux_mu_1024 = %r;" % (calculate_shift(4096), calculate_shift(1024)))
print()
for i, case in enumerate(CASES):
    trace(*case, seed=1900 + i)
    print()
print("}  // namespace reference_config_real")
