"""BM3D and a trained denoiser on the same noisy inputs, side by side.

Both see the published protocol's inputs: N(0, (sigma/255)^2) from RandomState(0) per image, not
clipped; both estimates are clipped and rounded to 8 bits; PSNR over the whole image, averaged.

    python benchmarks/bm3d_vs_model.py --ckpt outputs/train/.../checkpoints/last.ckpt
    python benchmarks/bm3d_vs_model.py --ckpt budget  # newest experiment=unet_cpu_budget run
    python benchmarks/bm3d_vs_model.py --kair ../shared/weights/kair_dncnn_25.pth --sets Set12

Writes experiments/results/bm3d_vs_model.json. A checkpoint of a 30-minute ``TimeBudget`` run
scored on the whole of Set12 and BSD68 at sigma 25 also sets the ``budget_set12`` and
``budget_bsd68`` speed goals (experiments/results/speed_goals.json), with its steps, training
minutes, model and this CPU's model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import bm3d
import numpy as np
import torch
from torch import nn

from restore.archs import DnCNN
from restore.degradations import GaussianNoise
from restore.metrics import quantize
from restore.tasks import DenoisingTask, RestorationTask
from restore.utils.config import PROJECT_ROOT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from denoise_protocol import clean_images, observe, psnr
from speed_goals import record

RESULTS = PROJECT_ROOT / "experiments" / "results" / "bm3d_vs_model.json"
# the CPU-budget preset and its former name
BUDGET_PRESETS = ("unet_cpu_budget", "dncnn_cpu_budget")


def load_model(args) -> tuple[RestorationTask, str]:
    """The denoising task to score: its ``observe`` makes the noisy inputs BM3D also gets."""
    if args.kair:
        net = DnCNN(1, batch_norm=False, weights=args.kair)
        task = DenoisingTask(net, nn.MSELoss(), GaussianNoise(sigma=args.sigma))
        return task.float().eval(), f"DnCNN-S (KAIR) {args.kair}"
    from restore.inference.loading import load_task

    ckpt = latest_budget_checkpoint() if args.ckpt == "budget" else args.ckpt
    task = load_task(ckpt)
    sigma = getattr(task.degradation, "sigma", None)
    if sigma != args.sigma:
        raise SystemExit(f"{ckpt} was trained for sigma={sigma}, not --sigma {args.sigma}")
    shown = Path(ckpt).resolve()
    if shown.is_relative_to(PROJECT_ROOT):
        shown = shown.relative_to(PROJECT_ROOT)
    return task.float().eval(), f"checkpoint {shown}"


BUDGET_MINUTES = 30  # the speed goal's training budget


def budget_run(ckpt: str) -> dict | None:
    """What the speed goals record of a checkpoint trained under a 30-minute ``TimeBudget`` (its
    steps, training minutes, schedule and model); None for any other checkpoint."""
    from restore.inference.loading import read_checkpoint

    state = read_checkpoint(ckpt)  # memory-mapped: reading the config and counters is cheap
    cfg = state.get("restore_config") or {}
    budget = (cfg.get("callbacks") or {}).get("time_budget") or {}
    if budget.get("minutes") != BUDGET_MINUTES:
        return None
    clock = next((v for k, v in state.get("callbacks", {}).items() if k == "TimeBudget"), {})
    model = {k: v for k, v in cfg["model"].items() if k not in ("in_channels", "out_channels")}
    overrides = Path(ckpt).resolve().parents[1] / ".hydra" / "overrides.yaml"
    trained_by = None
    if overrides.is_file():  # the run's command line, as Hydra saved it
        import yaml

        trained_by = "python -m restore.train " + " ".join(yaml.safe_load(overrides.read_text()))
    return {
        "checkpoint": ckpt,
        "training_command": trained_by,
        "steps": int(state["global_step"]),
        "train_minutes": round(clock.get("elapsed", float("nan")) / 60, 2),
        "schedule": budget.get("schedule"),
        "model": model,
        "batch": cfg["data"].get("batch_size"),
        "patch": cfg["data"].get("patch_size"),
    }


def latest_budget_checkpoint() -> str:
    """The checkpoint ``restore.train experiment=unet_cpu_budget`` tested, newest run first."""
    runs = sorted(
        (
            p.parent.parent
            for p in (PROJECT_ROOT / "outputs").glob("**/.hydra/overrides.yaml")
            if any(f"experiment={name}" in p.read_text() for name in BUDGET_PRESETS)
        ),
        key=lambda run: run.stat().st_mtime,
        reverse=True,
    )
    for run in runs:
        kept = sorted((run / "checkpoints").glob("epoch_*.ckpt"))
        if kept:
            return str(kept[-1])
    raise SystemExit(
        "no checkpoint of an experiment=unet_cpu_budget run under outputs/: train one with "
        "`python -m restore.train experiment=unet_cpu_budget` or pass --ckpt PATH"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ckpt", help="a restore.train checkpoint (gray denoiser)")
    source.add_argument("--kair", help="the authors' released DnCNN-S state dict")
    parser.add_argument("--sets", default="Set12,BSD68")
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--limit", type=int, default=None, help="first N images of each set")
    args = parser.parse_args()

    task, name = load_model(args)
    result = {"model": name, "sigma": args.sigma, "sets": {}}
    for set_name in args.sets.split(","):
        rows, t_bm3d, t_model = [], 0.0, 0.0
        for image, clean in clean_images(set_name, args.limit):
            batch = observe(task, clean)
            noisy = batch.input.contiguous()
            start = time.perf_counter()
            est_bm3d = bm3d.bm3d(noisy[0, 0].numpy().astype(np.float64), args.sigma / 255)
            t_bm3d += time.perf_counter() - start
            start = time.perf_counter()
            with torch.inference_mode():
                est_model = task.restore_batch(batch)
            t_model += time.perf_counter() - start
            rows.append(
                {
                    "image": image,
                    "bm3d": psnr(quantize(torch.from_numpy(est_bm3d).float()), clean[0, 0]),
                    "model": psnr(quantize(est_model), clean),
                }
            )
        result["sets"][set_name] = {
            "images": len(rows),
            "bm3d_psnr": float(np.mean([r["bm3d"] for r in rows])),
            "model_psnr": float(np.mean([r["model"] for r in rows])),
            "bm3d_seconds": t_bm3d,
            "model_seconds": t_model,
            "per_image": rows,
        }
        s = result["sets"][set_name]
        print(
            f"{set_name}: BM3D {s['bm3d_psnr']:.2f} dB ({t_bm3d:.0f} s), "
            f"model {s['model_psnr']:.2f} dB ({t_model:.0f} s)"
        )
    result["date"] = time.strftime("%Y-%m-%d %H:%M")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    record_budget_goals(args, result)


def record_budget_goals(args, result: dict) -> None:
    """Set the ``budget_*`` speed goals when this run scored a 30-minute budget checkpoint on the
    whole of Set12 and BSD68 at sigma 25 (the goals' protocol); say why not otherwise."""
    sets = result["sets"]
    if args.kair or args.sigma != 25 or args.limit or not {"Set12", "BSD68"} <= set(sets):
        return
    ckpt = latest_budget_checkpoint() if args.ckpt == "budget" else args.ckpt
    run = budget_run(ckpt)
    if run is None:
        print(f"not a {BUDGET_MINUTES}-minute TimeBudget run: the budget speed goals are unchanged")
        return
    set12, bsd68 = (round(sets[name]["model_psnr"], 2) for name in ("Set12", "BSD68"))
    bm3d_psnr = {name: round(sets[name]["bm3d_psnr"], 2) for name in ("Set12", "BSD68")}
    record("budget_set12", set12, **run, bsd68=bsd68, bm3d=bm3d_psnr)
    record("budget_bsd68", bsd68, **run, set12=set12, bm3d=bm3d_psnr)
    print(f"speed goals: budget_set12 {set12}, budget_bsd68 {bsd68} ({run['steps']} steps)")


if __name__ == "__main__":
    main()
