"""Reference data for img2img and inpainting (tests/reference_image_to_image.hpp).

Runs diffusers' own schedulers (snapshot 58eb52c0, offline: tools/diffusers_offline, float32) through
the arithmetic of diffusers' img2img and inpaint pipelines, written out below as those pipelines do it:

  img2img (pipeline_stable_diffusion_img2img.py get_timesteps / prepare_latents, and the SD3 / FLUX
  img2img pipelines for flow matching):
    init_timestep = min(int(n * strength), n); t_start = max(n - init_timestep, 0)
    timesteps = scheduler.timesteps[t_start * scheduler.order:]; scheduler.set_begin_index(t_start * order)
    x = scheduler.add_noise(image, noise, timesteps[:1])   (scale_noise(image, timesteps[:1], noise) for flow)
  inpaint (pipeline_stable_diffusion_inpaint.py, num_channels_unet == 4; FLUX's inpaint with scale_noise):
    after each step i: known = image if i is the last, else add_noise(image, noise, timesteps[i + 1]);
    x = (1 - mask) * known + mask * x

The image is sample0[:1, :1] (64 values, tools/reference_kdiffusion.py's), the initial noise one
torch.randn draw (seed 2000), the mask 1 on the right half of each row of the 8x8 latent and 0.5 on
its diagonal. The model is tools/reference_kdiffusion.py's smooth(x, t) = tanh(x) (0.5 + t / 2000) on
scale_model_input(x, t); stochastic steps (EulerAncestral) draw through the module's randn_tensor,
replaced by a recorder, so the C++ test replays the same stream.

  DIFFUSERS_SRC=/work/diffusers/src tools/diffusers_offline/python tools/reference_img2img.py \
      > tests/reference_image_to_image.hpp

(The header's name has no digits: scripts/format leaves tests/reference_[a-z_]+.hpp as generated.)
"""
import json

import torch

from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler, HeunDiscreteScheduler,
                       UniPCMultistepScheduler)
from diffusers.schedulers import scheduling_euler_ancestral_discrete

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


def mask():
    m = torch.zeros(8, 8)
    m[:, 4:] = 1.0
    for i in range(8):
        m[i, i] = 0.5
    return m.reshape(1, 1, 8, 8)


IMAGE = sample0()
NOISE = torch.randn((1, 1, 8, 8), generator=torch.Generator().manual_seed(2000), dtype=torch.float32)
MASK = mask()

SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
SD15 = dict(SD, steps_offset=1, set_alpha_to_one=False, clip_sample=False)

# name, class, steps, config, strengths, inpaint strengths
CASES = [
    # trailing spacing: DDIM's prev_timestep t - T // n is the next grid entry (docs/schedule.md).
    ("ddim", DDIMScheduler, 10, dict(SD15, timestep_spacing="trailing"), (0.3, 0.75, 1.0), (0.75,)),
    ("euler", EulerDiscreteScheduler, 10, SD15, (0.3, 0.75, 1.0), (0.75,)),
    ("euler_ancestral", EulerAncestralDiscreteScheduler, 10, dict(SD15, timestep_spacing="trailing"), (0.3, 0.75), ()),
    # 10 < 15 steps: lower_order_final lowers the last steps of the whole grid, the warm-up starts at the begin.
    ("dpm_solver_2m", DPMSolverMultistepScheduler, 10, SD15, (0.3, 0.75, 1.0), (0.75,)),
    ("dpm_solver_3m", DPMSolverMultistepScheduler, 10, dict(SD15, solver_order=3), (0.45, 0.75), ()),
    ("unipc", UniPCMultistepScheduler, 10, SD15, (0.45, 0.75), (0.75,)),
    ("heun", HeunDiscreteScheduler, 6, SD15, (0.5, 1.0), (0.5,)),
    ("flow_match_euler", FlowMatchEulerDiscreteScheduler, 10, dict(num_train_timesteps=1000, shift=3.0),
     (0.3, 0.75, 1.0), (0.75,)),
]


def noised(s, image, noise, t):
    if isinstance(s, FlowMatchEulerDiscreteScheduler):
        return s.scale_noise(image, t.reshape(1), noise)
    return s.add_noise(image, noise, t.reshape(1))


def trace(name, cls, steps, config, strength, inpaint, seed):
    s = cls.from_config(config)
    s.set_timesteps(steps)
    rec = Recorder(seed)
    scheduling_euler_ancestral_discrete.randn_tensor = rec
    init_timestep = min(int(steps * strength), steps)
    t_start = max(steps - init_timestep, 0)
    timesteps = s.timesteps[t_start * s.order:]
    if hasattr(s, "set_begin_index"):  # as the pipelines: DDIM has none (its step reads the timestep)
        s.set_begin_index(t_start * s.order)
    x = noised(s, IMAGE, NOISE, timesteps[:1])
    start = x.clone()
    times = []
    for i, t in enumerate(timesteps):
        inp = s.scale_model_input(x, t) if hasattr(type(s), "scale_model_input") else x
        times.append(float(t))
        x = s.step(smooth(inp, t), t, x).prev_sample
        if inpaint:
            known = IMAGE if i == len(timesteps) - 1 else noised(s, IMAGE, NOISE, timesteps[i + 1])
            x = (1 - MASK) * known + MASK * x
    draws = torch.cat(rec.draws).tolist() if rec.draws else []
    print("// %s, %d steps, strength %r%s: %s" % (cls.__name__, steps, strength, ", inpaint" if inpaint else "",
                                                ", ".join("%s=%r" % kv for kv in config.items())))
    print('inline const trace %s_%s%s{"%s", R"(%s)", %d, %r, %d, %s,\n    {%s},\n    {%s},\n    %d, {%s},\n    {%s}};'
          % (name, ("%g" % strength).replace(".", ""), "_inpaint" if inpaint else "", cls.__name__,
             json.dumps(dict(config, _class_name=cls.__name__)), steps, strength, t_start, "true" if inpaint else "false",
             fmt(times), fmt(start.flatten().tolist()), len(rec.draws), fmt(draws), fmt(x.flatten().tolist())))
    return "%s_%s%s" % (name, ("%g" % strength).replace(".", ""), "_inpaint" if inpaint else "")


print("// Generated by tools/reference_img2img.py from diffusers' schedulers (snapshot 58eb52c0, float32)")
print("// through the img2img and inpaint pipelines' arithmetic: see the script. Do not edit.")
print("#pragma once")
print()
print("#include <vector>")
print()
print("namespace reference_img2img {")
print()
print("struct trace {")
print("    const char* class_name;")
print("    const char* config;               // the scheduler_config.json, _class_name included")
print("    int steps;                        // num_inference_steps")
print("    double strength;")
print("    int t_start;                      // get_timesteps' t_start: the grid step the run begins at")
print("    bool inpaint;                     // blended after every step with `mask`")
print("    std::vector<double> model_times;  // the timesteps the network is told, in order")
print("    std::vector<float> start;         // add_noise / scale_noise of the image at the first one")
print("    int draws;                        // randn_tensor calls of the steps (64 values each)")
print("    std::vector<float> noise;         // every draw, in order")
print("    std::vector<float> x;             // the final sample (64 values)")
print("};")
print()
print("// The initial noise (torch.randn, seed 2000) and the inpainting mask (1: generate).")
print("inline const std::vector<float> initial_noise{%s};" % fmt(NOISE.flatten().tolist()))
print("inline const std::vector<float> mask{%s};" % fmt(MASK.flatten().tolist()))
print()
names = []
seed = 2100
for name, cls, steps, config, strengths, inpaints in CASES:
    for strength in strengths:
        names.append(trace(name, cls, steps, config, strength, False, seed))
        seed += 1
        print()
    for strength in inpaints:
        names.append(trace(name, cls, steps, config, strength, True, seed))
        seed += 1
        print()
print("inline const std::vector<const trace*> all{%s};" % ", ".join("&" + n for n in names))
print()
print("}  // namespace reference_img2img")
