"""Minutes of training until DnCNN-S (the paper's recipe, sigma 25) reaches BSD68 29.23 dB on one
GPU: the ``gpu_minutes_to_29_23`` speed goal (issue #15, goal 5).

    python benchmarks/gpu_time_to_psnr.py                        # on a machine with a GPU
    python benchmarks/gpu_time_to_psnr.py -- task.compile=false  # an arm without one lever

It trains ``experiment=dncnn_s25_paper`` (Train400, 40x40 patches at 4 scales with the 8
flips/rotations, batch 128 x 1,600 per epoch, Adam 1e-3 then 1e-4 from epoch 30) validated on
the whole of BSD68 after every epoch (a folder of links: ``train/`` = Train400, ``val/`` =
BSD68), with the levers of the issue: the training images resident on the GPU and each batch
drawn there (``data.resident=true``), ``torch.compile`` (``task.compile=true``; its compile time
counts: it happens inside the first training steps) and channels-last bf16. Training stops at
the first validation at or above ``--target`` (Lightning's ``EarlyStopping(stopping_threshold)``)
or after ``--max-minutes`` of wall time. The minutes are the ``TrainClock``'s training time at
that validation (validation itself excluded, as in experiments/dncnn_s25_paper).

Extra Hydra overrides after ``--`` go to the training command. The result (with the GPU's name,
steps, the BSD68 curve and the command) goes to experiments/results/gpu_time_to_psnr.json, and,
on a CUDA device, to the speed goals (experiments/results/speed_goals.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from speed_goals import record  # noqa: E402

OUT = ROOT / "experiments" / "results" / "gpu_time_to_psnr.json"
LEVERS = [
    "data.resident=true",
    "task.compile=true",
    "trainer.enable_progress_bar=false",
    "logger=csv",
]


def data_folder(datasets: Path, work: Path) -> Path:
    """``work/train`` -> Train400 and ``work/val`` -> BSD68, as links (nothing copied)."""
    for split, name in (("train", "Train400"), ("val", "BSD68")):
        source = datasets / name
        if not source.is_dir():
            raise SystemExit(f"{source} is missing: pass --data, the folder holding {name}/")
        link = work / split
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source.resolve(), target_is_directory=True)
    return work


def curve(metrics: Path) -> list[dict]:
    """The validations of a run's CSV log: epoch, step, training minutes, val/psnr."""
    rows = []
    with metrics.open() as f:
        for row in csv.DictReader(f):
            if row.get("val/psnr"):
                rows.append(
                    {
                        "epoch": int(row["epoch"]),
                        "step": int(row["step"]),
                        "train_min": float(row["time/train_min"]),
                        "val_psnr": float(row["val/psnr"]),
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=29.23, help="BSD68 PSNR to reach")
    parser.add_argument(
        "--data",
        default=os.environ.get("RESTORE_DATA_DIR", str(ROOT.parent / "shared" / "datasets")),
        help="the folder holding Train400/, BSD68/ and Set12/ (tested after training)",
    )
    parser.add_argument("--max-minutes", type=float, default=9.0, help="wall-time cap of training")
    parser.add_argument(
        "--trainer", default="gpu", help="the trainer config (gpu, or cpu for a try)"
    )
    parser.add_argument("--run-dir", default=None, help="default outputs/gpu_time_to_psnr/<time>")
    parser.add_argument("--output", default=str(OUT))
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides (after --)")
    args = parser.parse_args()

    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    run_dir = Path(args.run_dir or ROOT / "outputs" / "gpu_time_to_psnr" / stamp).resolve()
    folder = data_folder(Path(args.data), run_dir / "data")
    seconds = round(args.max_minutes * 60)
    overrides = [
        "experiment=dncnn_s25_paper",
        f"trainer={args.trainer}",
        f"paths.data_dir={Path(args.data).resolve()}",  # the test sets (Set12, BSD68) too
        f"data.layout.root={folder}",
        "data.layout.split=null",
        "data.val_crop=null",
        *LEVERS,
        f"++trainer.max_time={{seconds:{seconds}}}",
        # the experiment has no early stopping: here it stops at the target, never on patience
        "++callbacks.early_stopping={_target_:lightning.pytorch.callbacks.EarlyStopping,"
        f"monitor:'val/psnr',mode:max,patience:1000000,stopping_threshold:{args.target},"
        "check_on_train_epoch_end:false}",
        f"hydra.run.dir={run_dir}",
        *args.overrides,
    ]
    command = [sys.executable, "-m", "restore.train", *overrides]
    print("+", shlex.join(command), flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"training failed (exit {done.returncode}): see {run_dir}/train.log")

    rows = curve(run_dir / "csv" / "metrics.csv")
    reached = next((r for r in rows if r["val_psnr"] >= args.target), None)
    minutes = round(reached["train_min"], 3) if reached else None
    device = gpu_name()
    result = {
        "benchmark": "minutes of training to a BSD68 PSNR, DnCNN-S paper recipe",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "device": device,
        "target_bsd68": args.target,
        "minutes_to_target": minutes,
        "reached_at": reached,
        "best_val_psnr": max((r["val_psnr"] for r in rows), default=None),
        "wall_minutes_whole_job": round(wall / 60, 2),
        "command": "python -m restore.train " + shlex.join(overrides),
        "curve": rows,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{device}: BSD68 {args.target} after {minutes} min of training"
        if minutes
        else f"{device}: BSD68 {args.target} not reached (best {result['best_val_psnr']})"
    )
    if device.startswith("cuda") and args.target == 29.23:
        record(
            "gpu_minutes_to_29_23",
            minutes,
            gpu=device,
            reached_at=reached,
            best_val_psnr=result["best_val_psnr"],
            training_command=result["command"],
            results=args.output,
        )


def gpu_name() -> str:
    """``cuda: <model>`` where a GPU is visible (what the recipe trains on), else ``cpu``."""
    import torch

    return f"cuda: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"


if __name__ == "__main__":
    main()
