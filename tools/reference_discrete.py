"""Reference data for DDPM, DDIM and DDIM inversion (tests/reference_discrete.hpp).

Runs diffusers' own DDPMScheduler, DDIMScheduler and DDIMInverseScheduler (snapshot 58eb52c0,
offline: tools/diffusers_offline) element by element, twice per configuration: in float32 as
diffusers ships, and in float64 (the betas recomputed by diffusers' own formula in float64, the
model and sample in float64), so that the C++ float and double runs each have a reference of
their own precision.

  DIFFUSERS_SRC=/work/diffusers/src tools/diffusers_offline/python \
      tools/reference_discrete.py > tests/reference_discrete.hpp

1. The full loops of diffusers' tests/schedulers/test_scheduler_ddim.py and
   test_scheduler_ddim_inverse.py (dummy model sample * t / (t + 1) on the 768-element fixture,
   T = 1000 linear betas, 10 steps), as sums and means of |x|, to full precision.
2. Element-wise traces. The stand-in network is tanh(x) (0.5 + t/2000) on 64 elements; for the learned variance types it
also outputs a second block of 64 values (see variance_head). The noise is drawn from torch.randn
under a fixed seed in float32 and recorded; the float64 run uses the same draws, so the C++ tests
replay them for both types.
3. The batched noise-free step of DDIMParallelScheduler and DDPMParallelScheduler
   (batch_step_no_noise, for ParaDiGMS): 4 samples of 2x2x2 values, each at its own timestep (the
   last one at the grid's last entry, so it steps past t = 0), in float32 and float64.
"""
import torch

import diffusers  # noqa: F401
from diffusers import DDIMInverseScheduler, DDIMParallelScheduler, DDIMScheduler, DDPMParallelScheduler, DDPMScheduler
from diffusers.schedulers import scheduling_ddpm

torch.set_grad_enabled(False)


def smooth(x, t):
    return torch.tanh(x) * float(0.5 + float(t) / 2000.0)


def variance_head(x, variance_type):
    # learned: the variance itself (positive); learned_range: v in (-1, 1) (Nichol & Dhariwal eq. 15).
    if variance_type == "learned":
        return 0.02 * (1.5 + torch.tanh(x))
    return 0.9 * torch.tanh(2 * x)


def fmt(values, digits=9):
    return ", ".join(("%." + str(digits) + "g") % float(v) for v in values)


out = []


def emit(line=""):
    out.append(line)


class Recorder:
    """Draws float32 normals from a seeded generator and records them; returns them in `dtype`."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.draws = []
        self.replay = None

    def __call__(self, shape, *args, dtype=torch.float32, **kwargs):
        if self.replay is not None:  # the float64 run: the float32 run's draws, in order
            z = self.replay.pop(0)
        else:
            z = torch.randn(shape, generator=self.g, dtype=torch.float32)
            self.draws.append(z.clone())
        return z.to(dtype)

    def flat(self):
        return torch.cat([d.flatten() for d in self.draws]).tolist() if self.draws else []


def in_float64(s, config):
    """Replaces the scheduler's float32 tables by float64 ones from the same formula."""
    T = config.get("num_train_timesteps", 1000)
    start, end = config.get("beta_start", 0.0001), config.get("beta_end", 0.02)
    schedule = config.get("beta_schedule", "linear")
    if schedule == "linear":
        betas = torch.linspace(start, end, T, dtype=torch.float64)
    elif schedule == "scaled_linear":
        betas = torch.linspace(start**0.5, end**0.5, T, dtype=torch.float64) ** 2
    else:
        raise ValueError(schedule)
    s.betas = betas
    s.alphas = 1.0 - betas
    s.alphas_cumprod = torch.cumprod(s.alphas, dim=0)
    one = torch.tensor(1.0, dtype=torch.float64)
    if hasattr(s, "final_alpha_cumprod"):
        s.final_alpha_cumprod = one if config.get("set_alpha_to_one", True) else s.alphas_cumprod[0]
    if hasattr(s, "initial_alpha_cumprod"):
        s.initial_alpha_cumprod = one if config.get("set_alpha_to_one", True) else s.alphas_cumprod[0]
    if hasattr(s, "one"):
        s.one = one
    return s


def start(seed, dtype):
    return torch.randn((1, 1, 8, 8), generator=torch.Generator().manual_seed(seed), dtype=torch.float32).to(dtype)


def run(cls, config, steps, seed, scale, step_kwargs, dtype, recorder):
    s = cls(**config)
    s.set_timesteps(steps)
    if dtype == torch.float64:
        in_float64(s, config)
    x = start(1000 + seed, dtype) * scale
    x0 = x.clone()
    variance_type = config.get("variance_type")
    for t in s.timesteps:
        out = smooth(x, t)
        if variance_type in ("learned", "learned_range"):
            out = torch.cat([out, variance_head(x, variance_type)], dim=1)
        kwargs = dict(step_kwargs)
        if cls is DDIMScheduler and kwargs.get("eta", 0) > 0:
            # diffusers draws at every step when eta > 0, also where the draw is multiplied by 0
            # (the last step with set_alpha_to_one); diffuse draws it too, so a replayed stream stays
            # aligned with diffusers'.
            kwargs["variance_noise"] = recorder((1, 1, 8, 8), dtype=dtype)
        x = s.step(out, t, x, **kwargs).prev_sample
    return s.timesteps.tolist(), x0, x


def trace(name, cls, config, steps, seed, scale=1.0, step_kwargs=None):
    rec = Recorder(seed)
    scheduling_ddpm.randn_tensor = rec
    grid, x0, x32 = run(cls, config, steps, seed, scale, step_kwargs or {}, torch.float32, rec)
    rec.replay = list(rec.draws)
    _, _, x64 = run(cls, config, steps, seed, scale, step_kwargs or {}, torch.float64, rec)
    assert not rec.replay, "the float64 run drew less noise than the float32 run"
    assert torch.isfinite(x32).all() and torch.isfinite(x64).all()
    emit(f"inline const trace {name}{{{{{fmt(grid)}}},")
    emit(f"    {{{fmt(x0.flatten().tolist())}}},")
    emit(f"    {{{fmt(rec.flat())}}},")
    emit(f"    {{{fmt(x32.flatten().tolist())}}},")
    emit(f"    {{{fmt(x64.flatten().tolist(), 17)}}}}};")


emit("// Generated by tools/reference_discrete.py from diffusers (snapshot 58eb52c0, torch 1.13).")
emit("// Do not edit; rerun the script.")
emit("#pragma once")
emit("#include <cstdint>")
emit("#include <vector>")
emit("namespace reference_discrete {")
emit("struct full_loop { double sum_float, mean_float, sum_double, mean_double; };  // float32 and float64 runs")


def sample0():
    return (torch.arange(768, dtype=torch.float32).reshape(3, 8, 8, 4) / 768).permute(3, 0, 1, 2)


def noise0():
    return ((767 - torch.arange(768, dtype=torch.float32)).reshape(3, 8, 8, 4) / 768).permute(3, 0, 1, 2)


def suite_loop(cls, config, dtype, with_noise=False):
    s = cls(**config)
    s.set_timesteps(10)
    if dtype == torch.float64:
        in_float64(s, config)
    x = sample0().to(dtype)
    ts = s.timesteps
    if with_noise:  # test_full_loop_with_noise: t_start = 8
        ts = ts[8:]
        x = s.add_noise(x, noise0().to(dtype), ts[:1])
    for t in ts:
        x = s.step(x * t / (t + 1), t, x).prev_sample
    return float(x.abs().sum()), float(x.abs().mean())


suite = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear", clip_sample=True)
for name, cls, config, noisy in [
        ("ddim_no_noise", DDIMScheduler, suite, False),
        ("ddim_v_prediction", DDIMScheduler, dict(suite, prediction_type="v_prediction"), False),
        ("ddim_set_alpha_to_one", DDIMScheduler, dict(suite, set_alpha_to_one=True, beta_start=0.01), False),
        ("ddim_no_set_alpha_to_one", DDIMScheduler, dict(suite, set_alpha_to_one=False, beta_start=0.01), False),
        ("ddim_with_noise", DDIMScheduler, suite, True),
        ("ddim_inverse_no_noise", DDIMInverseScheduler, suite, False),
        ("ddim_inverse_v_prediction", DDIMInverseScheduler, dict(suite, prediction_type="v_prediction"), False)]:
    values = suite_loop(cls, config, torch.float32, noisy) + suite_loop(cls, config, torch.float64, noisy)
    emit(f"inline constexpr full_loop {name}{{{', '.join(repr(v) for v in values)}}};")

emit("struct trace {")
emit("    std::vector<std::int64_t> timesteps;  // the grid")
emit("    std::vector<float> start;             // x at the first step (64 values)")
emit("    std::vector<float> noise;             // every noise draw, in order, 64 values each")
emit("    std::vector<float> x;                 // the final sample of the float32 run")
emit("    std::vector<double> x_double;         // the final sample of the float64 run")
emit("};")

linear = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear")
sd = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
threshold = dict(thresholding=True, dynamic_thresholding_ratio=0.9, sample_max_value=1.5)

# DDPM: every variance type diffusers computes (fixed_large_log gives NaN there: it returns log(beta)
# and takes its square root), clipping at another range, dynamic thresholding.
for i, (name, config) in enumerate([
        ("ddpm_fixed_small_clip", dict(linear)),
        ("ddpm_fixed_small_log_sd", dict(sd, variance_type="fixed_small_log", clip_sample=False)),
        ("ddpm_fixed_large_v_clip_range", dict(linear, variance_type="fixed_large", prediction_type="v_prediction",
                                               clip_sample_range=1.5)),
        ("ddpm_learned_sample", dict(linear, variance_type="learned", prediction_type="sample")),
        ("ddpm_learned_range", dict(linear, variance_type="learned_range", clip_sample=False)),
        ("ddpm_thresholding_sd", dict(sd, **threshold)),
        # dynamic_thresholding_ratio left at diffusers' default (0.995): the facade's default must match
        ("ddpm_thresholding_default_ratio", dict(sd, thresholding=True, sample_max_value=1.5))]):
    trace("diffusers_" + name, DDPMScheduler, config, 10, 60 + i)

# DDIM: eta 0.5 and 1 (injected variance_noise), use_clipped_model_output with clipping and with
# thresholding, Stable Diffusion's config, sample prediction (eps recovered from x0).
sd_ddim = dict(sd, clip_sample=False, set_alpha_to_one=False, steps_offset=1)
for i, (name, config, kwargs) in enumerate([
        ("ddim_eta05_sd", sd_ddim, dict(eta=0.5)),
        ("ddim_eta1_clip", dict(linear), dict(eta=1.0)),
        ("ddim_eta05_clipped_output", dict(linear), dict(eta=0.5, use_clipped_model_output=True)),
        ("ddim_thresholding_clipped_output_v", dict(sd, prediction_type="v_prediction", **threshold),
         dict(eta=0.0, use_clipped_model_output=True)),
        ("ddim_thresholding_eta1", dict(sd, **threshold), dict(eta=1.0)),
        ("ddim_sample_prediction_eta05", dict(linear, prediction_type="sample", clip_sample=False), dict(eta=0.5))]):
    trace("diffusers_" + name, DDIMScheduler, config, 10, 70 + i, step_kwargs=kwargs)

# DDIM inversion from a data-scale sample: defaults (clip_sample True), and Stable Diffusion's
# config with v-prediction and set_alpha_to_one False.
for i, (name, config) in enumerate([
        ("ddim_inverse_default", dict(linear)),
        ("ddim_inverse_sd_v", dict(sd, prediction_type="v_prediction", set_alpha_to_one=False, steps_offset=1,
                                   clip_sample=False))]):
    trace("diffusers_" + name, DDIMInverseScheduler, config, 10, 80 + i, scale=0.5)

emit("struct batch_step {")
emit("    std::vector<std::int64_t> timesteps;  // one per sample")
emit("    std::vector<float> samples;           // 4 samples of 8 values")
emit("    std::vector<float> output;            // the model output (16 values per sample for learned variances)")
emit("    std::vector<float> x;                 // batch_step_no_noise's result, float32 run")
emit("    std::vector<double> x_double;         // float64 run")
emit("};")


def batch_step(name, cls, config, steps, seed, kwargs=None):
    g = torch.Generator().manual_seed(seed)
    samples = torch.randn((4, 2, 2, 2), generator=g, dtype=torch.float32) * 1.5
    learned = config.get("variance_type") in ("learned", "learned_range")
    results = []
    out = None
    for dtype in (torch.float32, torch.float64):
        s = cls(**config)
        s.set_timesteps(steps)
        if dtype == torch.float64:
            in_float64(s, config)
        # The first, a middle and the last grid entries, and a timestep off the grid.
        ts = torch.tensor([int(s.timesteps[0]), int(s.timesteps[steps // 2]), 417, int(s.timesteps[-1])])
        if out is None:  # one float32 model output, recorded, for both runs
            out = torch.tanh(samples) * (0.5 + ts.to(torch.float32).view(-1, 1, 1, 1) / 2000.0)
            if learned:
                out = torch.cat([out, variance_head(samples, config["variance_type"])], dim=1)
        results.append(s.batch_step_no_noise(out.to(dtype), ts, samples.to(dtype), **(kwargs or {})))
    x32 = results[0]
    emit(f"inline const batch_step {name}{{")
    emit(f"    {{{', '.join(str(int(t)) for t in ts)}}},")
    emit(f"    {{{fmt(samples.flatten())}}},")
    emit(f"    {{{fmt(out.flatten())}}},")
    emit(f"    {{{fmt(x32.flatten())}}},")
    emit(f"    {{{fmt(results[1].flatten(), 17)}}}}};")


batch_step("diffusers_ddim_parallel_eps", DDIMParallelScheduler, dict(linear, clip_sample=False), 10, 90)
batch_step("diffusers_ddim_parallel_v_clip_clipped_output", DDIMParallelScheduler,
           dict(sd, prediction_type="v_prediction", set_alpha_to_one=False), 25, 91,
           dict(use_clipped_model_output=True))
batch_step("diffusers_ddim_parallel_sample_thresholding", DDIMParallelScheduler,
           dict(sd, prediction_type="sample", **threshold), 20, 92)
batch_step("diffusers_ddpm_parallel_eps_clip", DDPMParallelScheduler, dict(linear), 10, 93)
batch_step("diffusers_ddpm_parallel_learned_range_v", DDPMParallelScheduler,
           dict(sd, variance_type="learned_range", prediction_type="v_prediction", clip_sample=False), 50, 94)
batch_step("diffusers_ddpm_parallel_thresholding", DDPMParallelScheduler, dict(sd, **threshold), 20, 95)

emit("}  // namespace reference_discrete")
print("\n".join(out))
