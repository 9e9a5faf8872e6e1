#!/usr/bin/env python3
"""Trains the small U-Net noise predictor of examples/torchscript_pipeline and exports it as TorchScript.

    /usr/bin/python3 tools/train_torchscript_unet.py [--steps 2000] [--out examples/torchscript_pipeline/shapes_unet.pt]

The data are procedurally generated 16x16 single-channel images in [-1, 1] (nothing is
downloaded): a disc, a square, a horizontal bar or a vertical bar at a random position and size
on a dark background. The network is a DDPM epsilon predictor for the linear beta schedule
(beta 1e-4 to 0.02, 1000 training steps; diffusers' DDPMScheduler defaults), called as
forward(x, t) with x of shape [N, 1, 16, 16] (float32, NCHW) and t the training timestep(s) as
a float tensor of shape [N] or [] (diffusers' UNet2DModel convention; non-integer t is allowed).

Deterministic: fixed seeds, CPU, one thread, torch.use_deterministic_algorithms(True). Two runs
with Debian's torch 1.13.1 gave bitwise identical weights (state_dict); the file's bytes also
depend on its name, which torch.jit.save uses as the archive's folder. The default 2000 steps
(batch 64) take 94 s of CPU time (one thread); on the shared 2-core development machine, busy with
other compiles, that was 8-11 minutes of wall time (the time is printed at the end).
"""

import argparse
import math
import time
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

SIZE = 16
NUM_TRAIN_TIMESTEPS = 1000


def make_shapes(n: int, generator: torch.Generator) -> torch.Tensor:
    """n images [n, 1, 16, 16] in [-1, 1]: one shape each (disc, square, horizontal bar, vertical bar)."""
    kind = torch.randint(0, 4, (n, 1, 1), generator=generator)
    cx = 3.5 + 9.0 * torch.rand(n, 1, 1, generator=generator)
    cy = 3.5 + 9.0 * torch.rand(n, 1, 1, generator=generator)
    r = 2.0 + 2.5 * torch.rand(n, 1, 1, generator=generator)
    coords = torch.arange(SIZE, dtype=torch.float32)
    yy, xx = coords.view(1, SIZE, 1), coords.view(1, 1, SIZE)
    dx, dy = (xx - cx).abs(), (yy - cy).abs()
    disc = dx * dx + dy * dy <= r * r
    square = (dx <= r) & (dy <= r)
    hbar = (dy <= 1.0) & (dx <= r + 2.0)
    vbar = (dx <= 1.0) & (dy <= r + 2.0)
    inside = torch.where(kind == 0, disc, torch.where(kind == 1, square, torch.where(kind == 2, hbar, vbar)))
    return (inside.float() * 2.0 - 1.0).unsqueeze(1)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of the timesteps t [N] (Vaswani et al. 2017, as DDPM's U-Net)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.unsqueeze(1) * freqs.unsqueeze(0)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb).unsqueeze(-1).unsqueeze(-1)
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class ShapesUNet(nn.Module):
    """16x16 -> 8x8 -> 4x4 and back, with skip connections; about 0.2 M parameters."""

    def __init__(self, ch: int = 16, tdim: int = 64):
        super().__init__()
        self.tdim = tdim
        self.time_mlp = nn.Sequential(nn.Linear(tdim, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.inc = nn.Conv2d(1, ch, 3, padding=1)
        self.enc1 = ResBlock(ch, ch, tdim)  # 16x16
        self.down1 = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)
        self.enc2 = ResBlock(2 * ch, 2 * ch, tdim)  # 8x8
        self.down2 = nn.Conv2d(2 * ch, 2 * ch, 3, stride=2, padding=1)
        self.mid = ResBlock(2 * ch, 2 * ch, tdim)  # 4x4
        self.up2 = nn.Conv2d(2 * ch, 2 * ch, 3, padding=1)
        self.dec2 = ResBlock(4 * ch, 2 * ch, tdim)  # 8x8
        self.up1 = nn.Conv2d(2 * ch, ch, 3, padding=1)
        self.dec1 = ResBlock(2 * ch, ch, tdim)  # 16x16
        self.out_norm = nn.GroupNorm(8, ch)
        self.out = nn.Conv2d(ch, 1, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.to(torch.float32).reshape(-1).expand(x.shape[0])  # [] or [N] -> [N]
        temb = self.time_mlp(timestep_embedding(t, self.tdim))
        h1 = self.enc1(self.inc(x), temb)
        h2 = self.enc2(self.down1(h1), temb)
        h = self.mid(self.down2(h2), temb)
        h = self.up2(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.dec2(torch.cat([h, h2], dim=1), temb)
        h = self.up1(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.dec1(torch.cat([h, h1], dim=1), temb)
        return self.out(F.silu(self.out_norm(h)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "examples/torchscript_pipeline/shapes_unet.pt")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    data_rng = torch.Generator().manual_seed(args.seed + 1)
    noise_rng = torch.Generator().manual_seed(args.seed + 2)

    betas = torch.linspace(1e-4, 0.02, NUM_TRAIN_TIMESTEPS, dtype=torch.float32)  # DDPM's linear schedule
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)

    model = ShapesUNet()
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    started = time.time()
    running = None
    for step in range(1, args.steps + 1):
        x0 = make_shapes(args.batch, data_rng)
        t = torch.randint(0, NUM_TRAIN_TIMESTEPS, (args.batch,), generator=noise_rng)
        eps = torch.randn(x0.shape, generator=noise_rng)
        ab = alphas_cumprod[t].view(-1, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1.0 - ab).sqrt() * eps  # DDPM eq. 4
        loss = F.mse_loss(model(xt, t.float()), eps)  # DDPM eq. 14 (L_simple)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 100 == 0 or step == args.steps:
            print(f"step {step:5d}  loss {running:.4f}  ({time.time() - started:.0f} s)", flush=True)

    model.eval()
    scripted = torch.jit.script(model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    scripted.save(str(args.out))
    print(f"{params} parameters, trained {args.steps} steps in {time.time() - started:.1f} s; "
          f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
