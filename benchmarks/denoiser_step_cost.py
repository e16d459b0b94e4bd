"""What one training step of the CPU-budget candidates costs: model x precision x memory format.

Plain PyTorch steps (forward, MSE, backward, Adam) on random tensors, so that only the network's
arithmetic is timed; the data pipeline is the same for every candidate and is measured by the full
runs in experiments/unet_cpu_budget/. Rounds alternate between the candidates to cancel drifts in
machine load; the best round of each is kept.

    python benchmarks/denoiser_step_cost.py [--steps 8] [--rounds 2] [--threads 2]

Writes experiments/results/denoiser_step_cost.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time

import torch
import torch.nn.functional as F

from restore.archs import DnCNN
from restore.archs.drunet import DRUNet
from restore.archs.ffdnet import FFDNet
from restore.archs.nafnet import NAFNet
from restore.archs.unet import UNet
from restore.utils.config import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "experiments" / "results" / "denoiser_step_cost.json"

# name: (network factory, batch, patch, bf16 autocast, channels_last)
CANDIDATES = {
    "dncnn17x64 b64 p40 bf16 cl": (lambda: DnCNN(1), 64, 40, True, True),
    "dncnn17x64 b64 p40 bf16": (lambda: DnCNN(1), 64, 40, True, False),
    "dncnn17x64 b64 p40 fp32 cl": (lambda: DnCNN(1), 64, 40, False, True),
    "dncnn17x64 b64 p40 fp32": (lambda: DnCNN(1), 64, 40, False, False),
    "ffdnet15x64 b64 p40 bf16 cl": (lambda: FFDNet(1, residual=True), 64, 40, True, True),
    "ffdnet15x64 b64 p64 bf16 cl": (lambda: FFDNet(1, residual=True), 64, 64, True, True),
    "ffdnet15x64 b64 p64 fp32 cl": (lambda: FFDNet(1, residual=True), 64, 64, False, True),
    # U-Net: most of its arithmetic runs at 1/4..1/256 of the pixels, for a 140-pixel field
    "unet d4w32 b16 p64 bf16 cl": (lambda: UNet(1, 1, depth=4, width=32), 16, 64, True, True),
    "unet d4w32 b16 p64 fp32 cl": (lambda: UNet(1, 1, depth=4, width=32), 16, 64, False, True),
    "unet d4w16 b16 p64 bf16 cl": (lambda: UNet(1, 1, depth=4, width=16), 16, 64, True, True),
    "unet d4w32 b32 p64 bf16 cl": (lambda: UNet(1, 1, depth=4, width=32), 32, 64, True, True),
    "unet d4w32 b8 p96 bf16 cl": (lambda: UNet(1, 1, depth=4, width=32), 8, 96, True, True),
    # DRUNet: residual blocks, no normalisation, additive skips (4 scales, 1/64 px at the bottom)
    "drunet w32x1 b16 p64 bf16 cl": (
        lambda: DRUNet(1, 1, 32, 1, residual=True),
        16,
        64,
        True,
        True,
    ),
    "drunet w32x2 b16 p64 bf16 cl": (
        lambda: DRUNet(1, 1, 32, 2, residual=True),
        16,
        64,
        True,
        True,
    ),
    # NAFNet: LayerNorm + 1x1 / depthwise 3x3 convs + SimpleGate blocks (4 scales down to 1/256 px)
    "nafnet w32 e1111 m1 d1111 b16 p64 bf16 cl": (
        lambda: NAFNet(1, 1, 32, [1, 1, 1, 1], 1, [1, 1, 1, 1]),
        16,
        64,
        True,
        True,
    ),
    "nafnet w32 e2222 m2 d2222 b16 p64 bf16 cl": (
        lambda: NAFNet(1, 1, 32, [2, 2, 2, 2], 2, [2, 2, 2, 2]),
        16,
        64,
        True,
        True,
    ),
    "nafnet w48 e1111 m1 d1111 b16 p64 bf16 cl": (
        lambda: NAFNet(1, 1, 48, [1, 1, 1, 1], 1, [1, 1, 1, 1]),
        16,
        64,
        True,
        True,
    ),
}


def time_steps(factory, batch: int, patch: int, bf16: bool, channels_last: bool, steps: int):
    torch.manual_seed(0)
    net = factory()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    clean = torch.rand(batch, 1, patch, patch).to(memory_format=fmt)
    noisy = clean + 25 / 255 * torch.randn_like(clean)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step():
        with autocast:
            loss = F.mse_loss(net(noisy).float(), clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):  # warm-up: allocator, oneDNN primitive caches
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--only",
        default="",
        help="time the candidates whose name holds this text; the file "
        "keeps the other candidates' rows from their last run",
    )
    args = parser.parse_args()
    chosen = {k: v for k, v in CANDIDATES.items() if args.only in k}
    if not chosen:
        raise SystemExit(f"--only {args.only!r} matches no candidate: {sorted(CANDIDATES)}")
    torch.set_num_threads(args.threads)
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, (factory, batch, patch, bf16, cl) in chosen.items():
            seconds = time_steps(factory, batch, patch, bf16, cl, args.steps)
            best[name] = min(best.get(name, float("inf")), seconds)
    date = time.strftime("%Y-%m-%d %H:%M")
    kept = json.loads(RESULTS.read_text())["results"] if RESULTS.exists() else []
    rows = [r for r in kept if r["candidate"] in CANDIDATES and r["candidate"] not in best]
    for name, seconds in best.items():
        _, batch, patch, bf16, cl = CANDIDATES[name]
        rows.append(
            {
                "candidate": name,
                "s_per_step": round(seconds, 4),
                "steps_per_s": round(1 / seconds, 3),
                "mpixels_per_s": round(batch * patch * patch / seconds / 1e6, 3),
                "date": date,
            }
        )
        print(f"{name:32s} {seconds:7.3f} s/step {rows[-1]['mpixels_per_s']:7.3f} Mpx/s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "denoiser_step_cost",
                "torch": torch.__version__,
                "threads": args.threads,
                "steps": args.steps,
                "rounds": args.rounds,
                "machine": platform.processor() or platform.machine(),
                "results": sorted(rows, key=lambda r: list(CANDIDATES).index(r["candidate"])),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
