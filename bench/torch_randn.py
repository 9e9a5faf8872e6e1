#!/usr/bin/env python3
"""Peer measurement for bench/bench_random.cpp: torch.randn on the CPU, one thread.

Prints elements per nanosecond (= Gelem/s) of torch.randn(n, out=buffer) (PyTorch's normal fill:
mt19937 uniforms and a vectorized Box-Muller for contiguous tensors of 16 or more elements) and
torch.rand(n, out=buffer), float32 at 2^20 and 2^24 elements and float64 at 2^20, the sizes of
bench_random. CPU time of the process (time.process_time), best of several repetitions: the
build machine is shared. torch picks its kernels by the CPU; to run the AVX2 kernels on an AVX-512
host, set ATEN_CPU_CAPABILITY=avx2 (the capability torch uses is printed, from
torch.__config__.show()).

Run: /usr/bin/python3 bench/torch_randn.py
"""
import time

import torch

torch.set_num_threads(1)


def rate(fill, n, dtype, repetitions=7):
    out = torch.empty(n, dtype=dtype)
    fill(out)  # warm-up: page faults and the generator's first use
    calls = max(1, (1 << 24) // n)
    best = float("inf")
    for _ in range(repetitions):
        start = time.process_time()
        for _ in range(calls):
            fill(out)
        best = min(best, (time.process_time() - start) / calls)
    return n / best / 1e9


def main():
    capability = next((line.split(":")[-1].strip() for line in torch.__config__.show().splitlines()
                       if "CPU capability" in line), "unknown")
    print(f"torch {torch.__version__}, CPU capability {capability}, 1 thread")
    generator = torch.Generator().manual_seed(0)
    cases = [("randn", torch.float32, 1 << 20), ("randn", torch.float32, 1 << 24), ("randn", torch.float64, 1 << 20),
             ("rand", torch.float32, 1 << 20), ("rand", torch.float64, 1 << 20)]
    for name, dtype, n in cases:
        fn = torch.randn if name == "randn" else torch.rand
        gelem = rate(lambda out: fn(n, out=out, generator=generator), n, dtype)
        print(f"{name} {str(dtype).removeprefix('torch.')} n={n}: {gelem:.3f} Gelem/s")


if __name__ == "__main__":
    main()
