#!/usr/bin/env python3
"""Peer measurement for bench/bench_activations.cpp: PyTorch CPU, one thread, float32.

Prints elements per nanosecond (= Gelem/s) for every activation at 16K (in cache) and 16M
(memory bound) elements. Each call writes into a preallocated output (out= where PyTorch has
it, else the functional form, which allocates, as users call it). Median of repeated timings.

Run: /usr/bin/python3 bench/torch_activations.py
"""
import statistics
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)

ACTIVATIONS = {
    "sigmoid": lambda x, out: torch.sigmoid(x, out=out),
    "tanh": lambda x, out: torch.tanh(x, out=out),
    "gelu": lambda x, out: F.gelu(x),
    "gelu_tanh": lambda x, out: F.gelu(x, approximate="tanh"),
    "silu": lambda x, out: F.silu(x),
    "quick_gelu": lambda x, out: torch.mul(x, torch.sigmoid(1.702 * x), out=out),
    "swish": lambda x, out: torch.mul(x, torch.sigmoid(1.5 * x), out=out),  # beta as in bench_activations
    "mish": lambda x, out: F.mish(x),
    "softplus": lambda x, out: F.softplus(x),
    "elu": lambda x, out: F.elu(x),
    "selu": lambda x, out: F.selu(x),
    "celu": lambda x, out: F.celu(x),
    "softsign": lambda x, out: F.softsign(x),
    "relu": lambda x, out: torch.relu(x),
    "relu6": lambda x, out: F.relu6(x),
    "leaky_relu": lambda x, out: F.leaky_relu(x),
    "hard_sigmoid": lambda x, out: F.hardsigmoid(x),
    "hard_tanh": lambda x, out: F.hardtanh(x),
    "hardswish": lambda x, out: F.hardswish(x),
    "heaviside": lambda x, out: torch.heaviside(x, torch.zeros(()), out=out),
}


def measure(fn, n, min_seconds=0.2, repeats=7):
    x = torch.linspace(-6, 6, n, dtype=torch.float32)
    out = torch.empty_like(x)
    fn(x, out)
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn(x, out)
        if time.perf_counter() - start > min_seconds / repeats:
            break
        calls *= 2
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn(x, out)
        samples.append((time.perf_counter() - start) / calls)
    return n / statistics.median(samples) * 1e-9


def main():
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{'activation':<14}{'16K elem/ns':>14}{'16M elem/ns':>14}")
    for name, fn in ACTIVATIONS.items():
        print(f"{name:<14}{measure(fn, 1 << 14):>14.3f}{measure(fn, 1 << 24, repeats=3):>14.3f}")


if __name__ == "__main__":
    main()
