"""Reference data for diffuse's guidance rules (tests/reference_guidance.hpp).

Runs diffusers' own guider classes (snapshot 58eb52c0, offline: tools/diffusers_offline, float32)
on recorded tensors: three (cond, uncond) pairs of shape (2, 2, 3, 4) (batch 2, 24 values per
sample) drawn from a seeded generator, uncond = 0.8 cond + 0.5 z. Each case runs a guider for three
consecutive calls (set_state(step, num_inference_steps, timestep) then prepare_inputs and forward),
so start/stop, zero_init_steps and APG's momentum buffer are exercised; the pair used at call k is
pair k.

diffusers.guiders/__init__ imports diffusers.hooks, which needs torch.distributed._functional_collectives
(absent from torch 1.13). The guider modules themselves do not, so this script registers an empty
package object for diffusers.guiders and imports only the five guider modules (and guider_utils)
with importlib; the guiders' arithmetic is untouched (tools/diffusers_offline/README.md). torch.norm
is widened for the 2-norm over 3 dims, which torch 1.13 rejects (MagnitudeAwareGuidance needs it).

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

SHAPE = (2, 2, 3, 4)
rng = np.random.default_rng(17)
pairs = []
for _ in range(3):
    cond = rng.standard_normal(SHAPE).astype(np.float32)
    uncond = (0.8 * cond + 0.5 * rng.standard_normal(SHAPE)).astype(np.float32)
    pairs.append((cond, uncond))

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
    ("tangential", TCFG, {}, [0, 1, 2], 10),
    ("tangential", TCFG, {"guidance_scale": 3.0, "guidance_rescale": 0.7, "use_original_formulation": True},
     [0, 1, 2], 10),
]

FIELDS = ["guidance_scale", "guidance_rescale", "use_original_formulation", "start", "stop", "enabled",
          "zero_init_steps", "alpha", "adaptive_projected_guidance_momentum", "adaptive_projected_guidance_rescale",
          "eta"]


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
        if kind == "adaptive_projected" and step == 0 and guider.adaptive_projected_guidance_momentum is not None:
            guider.momentum_buffer = importlib.import_module(
                "diffusers.guiders.adaptive_projected_guidance").MomentumBuffer(
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
        cpp(float(g("adaptive_projected_guidance_rescale", 0.0))), cpp(float(g("eta", 1.0))), str(n),
        "{" + ", ".join(str(s) for s in steps) + "}", "{" + ", ".join(values(o) for o in outs) + "}"]
    print("    // " + cls.__name__ + "(" + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")")
    print("    {" + ", ".join(fields) + "},")
print("};\n")
print("}  // namespace reference_guidance")
