"""Reference data for diffuse's guidance rules (tests/reference_guidance.hpp).

Runs diffusers' own guider classes (snapshot 58eb52c0, offline: tools/diffusers_offline, float32)
(and AdaptiveProjectedMixGuidance) on recorded tensors: three (cond, uncond) pairs of shape (2, 2, 3, 4) (batch 2, 24 values per
sample) drawn from a seeded generator, uncond = 0.8 cond + 0.5 z. Each case runs a guider for three
consecutive calls (set_state(step, num_inference_steps, timestep) then prepare_inputs and forward),
so start/stop, zero_init_steps and APG's momentum buffer are exercised; the pair used at call k is
pair k.

diffusers.guiders/__init__ imports diffusers.hooks, which needs torch.distributed._functional_collectives
(absent from torch 1.13). The guider modules themselves do not, so this script registers an empty
package object for diffusers.guiders and imports only the six guider modules (and guider_utils)
with importlib; the guiders' arithmetic is untouched (tools/diffusers_offline/README.md). torch.norm
is widened for the 2-norm over 3 dims, which torch 1.13 rejects (MagnitudeAwareGuidance needs it).

FrequencyDecoupledGuidance runs on its own tensors, (2, 2, 16, 12), with kornia's four pyramid functions
rewritten in torch (kornia is not installed; see the comment at that section).

  DIFFUSERS_SRC=/work/diffusers/src tools/diffusers_offline/python tools/reference_guidance.py > tests/reference_guidance.hpp
"""
import importlib
import os
import sys
import types

import numpy as np
import torch

import diffusers

# torch 1.13's torch.norm computes a Frobenius norm over at most 2 dims; MagnitudeAwareGuidance
# asks for the 2-norm over dims 1..3, which torch.linalg.vector_norm computes (same value).
_norm = torch.norm


def _vector_norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    if dim is not None and p in ("fro", 2) and len(list(dim)) > 2:
        return torch.linalg.vector_norm(input, 2, dim=dim, keepdim=keepdim)
    return _norm(input, p=p, dim=dim, keepdim=keepdim, dtype=dtype)


torch.norm = _vector_norm

package = types.ModuleType("diffusers.guiders")
package.__path__ = [os.path.join(os.path.dirname(diffusers.__file__), "guiders")]
sys.modules["diffusers.guiders"] = package


def guider_class(module, name):
    return getattr(importlib.import_module("diffusers.guiders." + module), name)


CFG = guider_class("classifier_free_guidance", "ClassifierFreeGuidance")
ZERO = guider_class("classifier_free_zero_star_guidance", "ClassifierFreeZeroStarGuidance")
MAG = guider_class("magnitude_aware_guidance", "MagnitudeAwareGuidance")
APG = guider_class("adaptive_projected_guidance", "AdaptiveProjectedGuidance")
TCFG = guider_class("tangential_classifier_free_guidance", "TangentialClassifierFreeGuidance")
APG_MIX = guider_class("adaptive_projected_guidance_mix", "AdaptiveProjectedMixGuidance")
MODULES = {"adaptive_projected": "adaptive_projected_guidance", "adaptive_projected_mix": "adaptive_projected_guidance_mix"}

SHAPE = (2, 2, 3, 4)
rng = np.random.default_rng(17)


def draw_pairs(shape):
    """Three (cond, uncond) pairs, uncond = 0.8 cond + 0.5 z, in float32."""
    drawn = []
    for _ in range(3):
        cond = rng.standard_normal(shape).astype(np.float32)
        drawn.append((cond, (0.8 * cond + 0.5 * rng.standard_normal(shape)).astype(np.float32)))
    return drawn


pairs = draw_pairs(SHAPE)

# (kind, diffusers class, constructor options, steps of the three calls, num_inference_steps)
cases = [
    ("classifier_free", CFG, {}, [0, 1, 2], 10),
    ("classifier_free", CFG, {"guidance_scale": 3.0, "guidance_rescale": 0.7}, [0, 1, 2], 10),
    ("classifier_free", CFG, {"guidance_scale": 5.0, "use_original_formulation": True}, [0, 1, 2], 10),
    ("classifier_free", CFG, {"guidance_scale": 4.0, "guidance_rescale": 1.0, "use_original_formulation": True},
     [0, 1, 2], 10),
    ("classifier_free", CFG, {"guidance_scale": 6.0, "start": 0.2, "stop": 0.5}, [1, 2, 5], 10),
    ("classifier_free", CFG, {"guidance_scale": 6.0, "enabled": False}, [0, 1, 2], 10),
    ("classifier_free", CFG, {"guidance_scale": 1.0, "guidance_rescale": 0.5}, [0, 1, 2], 10),
    ("zero_star", ZERO, {}, [0, 1, 2], 10),
    ("zero_star", ZERO, {"guidance_scale": 4.0, "zero_init_steps": 0, "guidance_rescale": 0.6}, [0, 1, 2], 10),
    ("zero_star", ZERO, {"guidance_scale": 4.0, "zero_init_steps": 2, "use_original_formulation": True},
     [1, 2, 3], 10),
    ("magnitude_aware", MAG, {}, [0, 1, 2], 10),
    ("magnitude_aware", MAG, {"guidance_scale": 5.0, "alpha": 2.0, "guidance_rescale": 0.5}, [0, 1, 2], 10),
    ("magnitude_aware", MAG, {"guidance_scale": 5.0, "alpha": 0.5, "use_original_formulation": True},
     [0, 1, 2], 10),
    ("adaptive_projected", APG, {}, [0, 1, 2], 10),
    ("adaptive_projected", APG, {"guidance_scale": 5.0, "adaptive_projected_guidance_momentum": -0.5,
                                  "adaptive_projected_guidance_rescale": 4.0, "eta": 0.3}, [0, 1, 2], 10),
    ("adaptive_projected", APG, {"guidance_scale": 5.0, "adaptive_projected_guidance_momentum": 0.7,
                                  "adaptive_projected_guidance_rescale": 0.0, "eta": 0.0,
                                  "guidance_rescale": 0.5, "use_original_formulation": True}, [0, 1, 2], 10),
    # AdaptiveProjectedMixGuidance: CFG up to adaptive_projected_guidance_start_step, APG after it.
    ("adaptive_projected_mix", APG_MIX, {}, [0, 1, 2], 10),
    ("adaptive_projected_mix", APG_MIX, {"adaptive_projected_guidance_start_step": 1}, [0, 1, 2], 10),
    ("adaptive_projected_mix", APG_MIX, {"guidance_scale": 4.0, "adaptive_projected_guidance_scale": 6.0,
                                         "adaptive_projected_guidance_momentum": None, "eta": 0.5,
                                         "adaptive_projected_guidance_rescale": 2.0,
                                         "adaptive_projected_guidance_start_step": 0}, [0, 1, 2], 10),
    ("adaptive_projected_mix", APG_MIX, {"guidance_rescale": 0.7, "use_original_formulation": True,
                                         "adaptive_projected_guidance_momentum": 0.3,
                                         "adaptive_projected_guidance_start_step": 1}, [0, 1, 2], 10),
    ("adaptive_projected_mix", APG_MIX, {"guidance_scale": 1.0, "adaptive_projected_guidance_start_step": 0},
     [0, 1, 2], 10),
    ("tangential", TCFG, {}, [0, 1, 2], 10),
    ("tangential", TCFG, {"guidance_scale": 3.0, "guidance_rescale": 0.7, "use_original_formulation": True},
     [0, 1, 2], 10),
]

FIELDS = ["guidance_scale", "guidance_rescale", "use_original_formulation", "start", "stop", "enabled",
          "zero_init_steps", "alpha", "adaptive_projected_guidance_momentum", "adaptive_projected_guidance_rescale",
          "eta", "adaptive_projected_guidance_scale", "adaptive_projected_guidance_start_step"]


def values(a):
    return "{" + ", ".join(repr(float(v)) for v in a.reshape(-1)) + "}"


def cpp(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(float(v)) if isinstance(v, float) else str(v)


print("// Generated by tools/reference_guidance.py from diffusers' guider classes (snapshot 58eb52c0,")
print("// float32): see the script for the tensors and the calls. Do not edit.")
print("#pragma once\n")
print("namespace reference_guidance {\n")
print("inline constexpr int batch = 2;")
print("inline constexpr int sample_size = 24;")
print("inline constexpr int size = 48;\n")
print("inline constexpr float cond[3][size] = {" + ", ".join(values(c) for c, _ in pairs) + "};")
print("inline constexpr float uncond[3][size] = {" + ", ".join(values(u) for _, u in pairs) + "};\n")
print("// The options of one case (diffusers' names; has_momentum: adaptive_projected_guidance_momentum is set).")
print("struct guider_case {")
print("    const char* kind;")
print("    double guidance_scale, guidance_rescale;")
print("    bool use_original_formulation;")
print("    double start, stop;")
print("    bool enabled;")
print("    int zero_init_steps;")
print("    double alpha;")
print("    bool has_momentum;")
print("    double momentum, adaptive_projected_guidance_rescale, eta;")
print("    double adaptive_projected_guidance_scale;")
print("    int adaptive_projected_guidance_start_step;")
print("    int num_inference_steps;")
print("    int step[3];")
print("    float out[3][size];")
print("};\n")
print("inline const guider_case cases[] = {")
for kind, cls, options, steps, n in cases:
    guider = cls(**options)
    outs = []
    for k, step in enumerate(steps):
        guider.set_state(step, n, torch.tensor(999))
        cond, uncond = (torch.from_numpy(t) for t in pairs[k])
        # prepare_inputs creates APG's momentum buffer at step 0, as a pipeline's call does.
        if kind in MODULES and step == 0 and guider.adaptive_projected_guidance_momentum is not None:
            guider.momentum_buffer = importlib.import_module("diffusers.guiders." + MODULES[kind]).MomentumBuffer(
                guider.adaptive_projected_guidance_momentum)
        out = guider.forward(cond, uncond).pred if guider.num_conditions == 2 or kind == "zero_star" \
            else guider.forward(cond).pred
        outs.append(out.numpy())
    cfg = {f: getattr(guider, f, None) for f in FIELDS}
    g = lambda f, d: d if cfg.get(f) is None else cfg[f]  # noqa: E731
    momentum = cfg.get("adaptive_projected_guidance_momentum")
    fields = [
        '"' + kind + '"', cpp(float(g("guidance_scale", 0.0))), cpp(float(g("guidance_rescale", 0.0))),
        cpp(bool(g("use_original_formulation", False))), cpp(float(guider._start)), cpp(float(guider._stop)),
        cpp(bool(guider._enabled)), str(int(g("zero_init_steps", 0))), cpp(float(g("alpha", 0.0))),
        cpp(momentum is not None), cpp(float(momentum or 0.0)),
        cpp(float(g("adaptive_projected_guidance_rescale", 0.0))), cpp(float(g("eta", 1.0))),
        cpp(float(g("adaptive_projected_guidance_scale", 0.0))), str(int(g("adaptive_projected_guidance_start_step", 0))),
        str(n),
        "{" + ", ".join(str(s) for s in steps) + "}", "{" + ", ".join(values(o) for o in outs) + "}"]
    print("    // " + cls.__name__ + "(" + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")")
    print("    {" + ", ".join(fields) + "},")
print("};\n")

# FrequencyDecoupledGuidance needs kornia's Laplacian pyramid, and kornia is not installed here: the
# four kornia functions it uses are rewritten below in torch, op for op as kornia defines them
# (kornia/geometry/transform/pyramid.py and kornia/filters/filter.py: a 5x5 Gaussian [1 4 6 4 1]^2/256
# applied by conv2d after reflect padding of 2; pyrdown = blur, then bilinear resize to
# (int(h / 2), int(w // 2)); pyrup = bilinear resize to (2h, 2w), then blur; align_corners=False;
# the Laplacian pyramid reflect-pads to the next powers of two only when neither h nor w is one),
# and put in place of the module's kornia imports. The guider's own code runs unchanged.
def _pyramid_kernel():
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    return (k[:, None] * k[None, :])[None] / 256.0


def _filter2d(x, kernel):
    b, c, h, w = x.shape
    weight = kernel[:, None].to(x).expand(-1, c, -1, -1).reshape(-1, 1, 5, 5)
    padded = torch.nn.functional.pad(x, [2, 2, 2, 2], mode="reflect")
    padded = padded.view(-1, weight.size(0), padded.size(-2), padded.size(-1))
    return torch.nn.functional.conv2d(padded, weight, groups=weight.size(0)).view(b, c, h, w)


def _pyrdown(x):
    _, _, h, w = x.shape
    blurred = _filter2d(x, _pyramid_kernel())
    return torch.nn.functional.interpolate(blurred, size=(int(float(h) / 2.0), int(float(w) // 2.0)),
                                           mode="bilinear", align_corners=False)


def _pyrup(x):
    _, _, h, w = x.shape
    up = torch.nn.functional.interpolate(x, size=(h * 2, w * 2), mode="bilinear", align_corners=False)
    return _filter2d(up, _pyramid_kernel())


def _is_power_of_two(n):
    return n > 0 and (n & (n - 1)) == 0


def _laplacian_pyramid(x, max_level):
    h, w = x.shape[2], x.shape[3]
    if not (_is_power_of_two(w) or _is_power_of_two(h)):
        x = torch.nn.functional.pad(x, (0, 2 ** (w - 1).bit_length() - w, 0, 2 ** (h - 1).bit_length() - h), "reflect")
    gaussian = [x]
    for _ in range(max_level - 1):
        gaussian.append(_pyrdown(gaussian[-1]))
    return [gaussian[i] - _pyrup(gaussian[i + 1]) for i in range(max_level - 1)] + [gaussian[-1]]


fdg_module = importlib.import_module("diffusers.guiders.frequency_decoupled_guidance")
fdg_module._CAN_USE_KORNIA = True
fdg_module.upsample_and_blur_func = _pyrup
fdg_module.build_laplacian_pyramid_func = _laplacian_pyramid
FDG = fdg_module.FrequencyDecoupledGuidance

# (batch, channels, height, width): width 12 is not a power of two, height 16 is (so kornia does not
# pad); three levels go 16x12 -> 8x6 -> 4x3.
FDG_SHAPE = (2, 2, 16, 12)
fdg_pairs = draw_pairs(FDG_SHAPE)

fdg_cases = [
    ({}, [0, 1, 2]),
    ({"guidance_scales": [8.0, 4.0, 2.0], "guidance_rescale": 0.7, "use_original_formulation": True}, [0, 1, 2]),
    ({"guidance_scales": [6.0, 3.0], "parallel_weights": 0.5, "guidance_rescale": [0.5, 0.2],
      "guidance_rescale_space": "freq"}, [0, 1, 2]),
    # Per-level windows, at steps where every level is guided: diffusers' forward appends the previous
    # level's pred_cond_freq for a level that is off (a full-resolution tensor for level 1, so the
    # reconstruction fails; UnboundLocalError for level 0), so only all-on steps are comparable.
    ({"guidance_scales": [6.0, 2.0], "parallel_weights": [0.3, 0.8], "start": [0.0, 0.2], "stop": [0.5, 1.0]},
     [2, 3, 4]),
    ({"enabled": False}, [0, 1, 2]),
]
FDG_LEVELS = 3

print("// FrequencyDecoupledGuidance (kornia's pyramid ops rewritten in torch, see the script).")
print("inline constexpr int fdg_batch = %d, fdg_channels = %d, fdg_height = %d, fdg_width = %d;" % FDG_SHAPE)
print("inline constexpr int fdg_size = %d;\n" % int(np.prod(FDG_SHAPE)))
print("inline constexpr float fdg_cond[3][fdg_size] = {" + ", ".join(values(c) for c, _ in fdg_pairs) + "};")
print("inline constexpr float fdg_uncond[3][fdg_size] = {" + ", ".join(values(u) for _, u in fdg_pairs) + "};\n")
print("// Per-level options padded to 3 levels; rescale_in_freq: guidance_rescale_space == \"freq\".")
print("struct fdg_case {")
print("    int levels;")
print("    bool enabled;")
print("    double guidance_scales[3], guidance_rescale[3], parallel_weights[3], start[3], stop[3];")
print("    bool use_original_formulation, rescale_in_freq;")
print("    int num_inference_steps;")
print("    int step[3];")
print("    float out[3][fdg_size];")
print("};\n")
print("inline const fdg_case fdg_cases[] = {")


def per_level(v):
    v = list(v) + [0.0] * (FDG_LEVELS - len(v))
    return "{" + ", ".join(cpp(float(x)) for x in v) + "}"


for options, steps in fdg_cases:
    guider = FDG(**options)
    outs = []
    for k, step in enumerate(steps):
        guider.set_state(step, 10, torch.tensor(999))
        cond, uncond = (torch.from_numpy(t) for t in fdg_pairs[k])
        outs.append(guider.forward(cond, uncond).pred.numpy())
    fields = [str(guider.levels), cpp(bool(guider._enabled)), per_level(guider.guidance_scales), per_level(guider.guidance_rescale),
              per_level(guider.parallel_weights), per_level(guider.guidance_start), per_level(guider.guidance_stop),
              cpp(bool(guider.use_original_formulation)), cpp(guider.guidance_rescale_space == "freq"), "10",
              "{" + ", ".join(str(s) for s in steps) + "}", "{" + ", ".join(values(o) for o in outs) + "}"]
    print("    // FrequencyDecoupledGuidance(" + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")")
    print("    {" + ", ".join(fields) + "},")
print("};\n")
print("}  // namespace reference_guidance")
