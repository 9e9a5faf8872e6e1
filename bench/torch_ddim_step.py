#!/usr/bin/python3
"""The PyTorch peer of bench_samplers' DDIM step: one DDIM step (eta = 0, epsilon prediction,
linear betas 1e-4..0.02 over 1000 training steps) in PyTorch eager on one thread, written the way
diffusers' DDIMScheduler.step writes it (pred_original_sample, optional clamp, then prev_sample,
each a separate tensor operation on 0-dim tensors of the schedule), at the C++ benchmark's sizes.

Bytes are counted exactly as in bench_samplers.cpp: the arrays the step must read and write
(x and the model output read, x written: 3 n sizeof(dtype)), not the temporaries eager mode makes.
Time is the thread's CPU time (time.thread_time), the clock Google Benchmark reports as CPU.

    /usr/bin/python3 bench/torch_ddim_step.py
    /usr/bin/python3 bench/torch_ddim_step.py --cpp-json bench_samplers.json   # adds the ratios

where bench_samplers.json comes from
    build/bench/bench_samplers --benchmark_out=bench_samplers.json --benchmark_out_format=json
(with --benchmark_repetitions=N the medians are used). C++/triad is the C++ benchmark's
vs_triad counter (its bytes/s over the triad's, measured in alternation; bench_common.hpp).
"""

import argparse
import json
import time

import torch

TRAIN_TIMESTEPS = 1000
FLOAT_SIZES = [1 << 12, 1 << 16, 1 << 20, 1 << 24]
DOUBLE_SIZE = 1 << 20


class DdimPeer:
    """The arithmetic of diffusers' DDIMScheduler.step for eta = 0 and epsilon prediction."""

    def __init__(self, dtype, clip_sample):
        betas = torch.linspace(1e-4, 0.02, TRAIN_TIMESTEPS, dtype=torch.float32)
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0).to(dtype)
        self.final_alpha_cumprod = torch.tensor(1.0, dtype=dtype)  # set_alpha_to_one
        self.clip_sample = clip_sample
        self.clip_sample_range = 1.0
        self.eta = 0.0

    def variance(self, alpha_prod_t, alpha_prod_t_prev):
        beta_prod_t = 1 - alpha_prod_t
        beta_prod_t_prev = 1 - alpha_prod_t_prev
        return (beta_prod_t_prev / beta_prod_t) * (1 - alpha_prod_t / alpha_prod_t_prev)

    def step(self, model_output, timestep, prev_timestep, sample):
        alpha_prod_t = self.alphas_cumprod[timestep]
        alpha_prod_t_prev = self.alphas_cumprod[prev_timestep] if prev_timestep >= 0 else self.final_alpha_cumprod
        beta_prod_t = 1 - alpha_prod_t
        pred_original_sample = (sample - beta_prod_t ** (0.5) * model_output) / alpha_prod_t ** (0.5)
        pred_epsilon = model_output
        if self.clip_sample:
            pred_original_sample = pred_original_sample.clamp(-self.clip_sample_range, self.clip_sample_range)
        std_dev_t = self.eta * self.variance(alpha_prod_t, alpha_prod_t_prev) ** (0.5)
        pred_sample_direction = (1 - alpha_prod_t_prev - std_dev_t**2) ** (0.5) * pred_epsilon
        return alpha_prod_t_prev ** (0.5) * pred_original_sample + pred_sample_direction


def measure(n, dtype, clip_sample, min_time):
    """Steps over the full 1000-step grid (restarting from the same x when it is used up) for at
    least min_time seconds of thread CPU time; returns (steps, seconds)."""
    peer = DdimPeer(dtype, clip_sample)
    generator = torch.Generator().manual_seed(0)
    x_start = torch.randn(n, generator=generator, dtype=dtype)
    output = torch.randn(n, generator=generator, dtype=dtype)
    grid = list(range(TRAIN_TIMESTEPS - 1, -1, -1))
    x = x_start.clone()
    x = peer.step(output, grid[0], grid[1], x)  # warm-up: first touch, allocator pools
    x = x_start.clone()
    steps, index = 0, 0
    start = time.thread_time()
    while True:
        if index == len(grid):
            x, index = x_start.clone(), 0
        t = grid[index]
        x = peer.step(output, t, t - TRAIN_TIMESTEPS // len(grid), x)
        index += 1
        steps += 1
        elapsed = time.thread_time() - start
        if elapsed >= min_time and steps >= 3:
            return steps, elapsed


def cpp_results(path):
    """(bytes/s, vs_triad) of every benchmark in a Google Benchmark JSON file, by run name: the
    medians when the file holds repetitions (--benchmark_repetitions), else the single run."""
    with open(path) as f:
        data = json.load(f)
    single, median = {}, {}
    for b in data["benchmarks"]:
        name = b.get("run_name", b["name"])
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                median[name] = (b["bytes_per_second"], b["vs_triad"])
        else:
            single[name] = (b["bytes_per_second"], b["vs_triad"])
    return {**single, **median}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds of CPU time per measurement")
    parser.add_argument("--cpp-json", help="bench_samplers --benchmark_format=json output, to print ratios")
    args = parser.parse_args()
    torch.set_num_threads(1)
    # glibc serves blocks above a dynamic threshold with fresh mmap'd pages (a page fault per
    # 4 KiB on first touch) and raises the threshold to the size of each such block freed, up to
    # 32 MiB. A long-running pipeline sits at that maximum; put this process there first, so that
    # results do not depend on the order of the measurements (a 64K-float step was 8x faster
    # after the 1M runs than before them).
    threshold_raiser = torch.empty(31 << 20, dtype=torch.uint8)
    del threshold_raiser
    cpp = cpp_results(args.cpp_json) if args.cpp_json else {}

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, eager")
    header = f"{'benchmark':36} {'elements/s':>12} {'bytes/s':>12}"
    if cpp:
        header += f" {'C++ bytes/s':>12} {'C++/torch':>10} {'C++/triad':>10}"
    print(header)
    configs = [(torch.float32, "float", n) for n in FLOAT_SIZES] + [(torch.float64, "double", DOUBLE_SIZE)]
    for clip_sample in (False, True):
        for dtype, type_name, n in configs:
            steps, seconds = measure(n, dtype, clip_sample, args.min_time)
            element_bytes = torch.finfo(dtype).bits // 8
            elements_per_second = steps * n / seconds
            bytes_per_second = 3 * element_bytes * elements_per_second
            name = f"ddim_step<{type_name}>/clip_{'on' if clip_sample else 'off'}/{n}"
            line = f"{name:36} {elements_per_second / 1e9:10.3f} G {bytes_per_second / 1e9:10.2f} G"
            if name in cpp:
                cpp_rate, vs_triad = cpp[name]
                line += f" {cpp_rate / 1e9:10.2f} G {cpp_rate / bytes_per_second:10.1f} {vs_triad:10.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
