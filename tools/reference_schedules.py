#!/usr/bin/env python3
"""Prints alphas_cumprod of diffusers' beta schedules, computed with torch float32 tensor ops in
the order diffusers' DDPMScheduler.__init__ performs them (linspace, sigmoid, squaring, cumprod,
rescale_zero_terminal_snr). Used to produce the values asserted in tests/test_schedule.cpp.

Run with Debian's python3-torch:  /usr/bin/python3 tools/reference_schedules.py
"""
import math

import torch


def cosine_betas(n, max_beta=0.999):
    f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    return torch.tensor([min(1 - f((i + 1) / n) / f(i / n), max_beta) for i in range(n)], dtype=torch.float32)


def zero_snr(betas):
    alphas_bar_sqrt = torch.cumprod(1.0 - betas, dim=0).sqrt()
    first, last = alphas_bar_sqrt[0].clone(), alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt -= last
    alphas_bar_sqrt *= first / (first - last)
    alphas_bar = alphas_bar_sqrt ** 2
    alphas = torch.cat([alphas_bar[0:1], alphas_bar[1:] / alphas_bar[:-1]])
    return 1 - alphas


T = 1000
schedules = {
    "linear": torch.linspace(1e-4, 0.02, T, dtype=torch.float32),
    "scaled_linear": torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, T, dtype=torch.float32) ** 2,
    "squaredcos_cap_v2": cosine_betas(T),
    "sigmoid": torch.sigmoid(torch.linspace(-6, 6, T)) * (0.02 - 1e-4) + 1e-4,
}
schedules["linear_zero_snr"] = zero_snr(schedules["linear"])
schedules["scaled_linear_zero_snr"] = zero_snr(schedules["scaled_linear"])
for name, betas in schedules.items():
    ac = torch.cumprod(1.0 - betas, dim=0)
    picks = [0, 1, 250, 500, 750, 998, 999]
    print(name, ", ".join(f"{{{i}, {ac[i].item():.9g}}}" for i in picks))
