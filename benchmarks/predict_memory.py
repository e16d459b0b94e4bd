"""Peak memory and time of ``restore.predict`` on a 4096x4096 gray photo, tiled vs untiled.

Each case runs ``restore.predict.predict`` in a fresh subprocess (so peaks do not mix) with a
DnCNN-S-sized network (17 layers x 64 channels, random weights: memory and time do not depend on
them) saved as a restore checkpoint, and reports the process's peak resident set size
(``resource.getrusage(...).ru_maxrss``) before and after predicting, and the wall time of the
prediction (reading, restoring and writing the image) with its CPU time. Predict's default
precision (float32) is used. The untiled case runs only if its peak, extrapolated from a
1024x1024 probe, stays under ``--untiled-limit-gb`` and fits in the available memory; otherwise
the estimate is reported.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/predict_memory.py

writes ``experiments/results/predict_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "experiments" / "results" / "predict_memory.json"


def _compose(name: str, overrides: list[str], output_dir: Path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from restore.utils.config import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


def make_checkpoint(path: Path) -> None:
    """A restore checkpoint of DnCNN-S (gray, 17 x 64, random weights) with its config."""
    import torch

    from restore.utils.build import build_task
    from restore.utils.config import CHECKPOINT_CONFIG_KEY, to_container

    cfg = _compose("train", ["model=dncnn", "model.depth=17", "model.width=64"], path.parent)
    task = build_task(cfg)
    torch.save({"state_dict": task.state_dict(), CHECKPOINT_CONFIG_KEY: to_container(cfg)}, path)


def make_image(path: Path, size: int) -> None:
    """A gray 8-bit photo-like image: scikit-image's camera, resized, plus noise."""
    import cv2
    import numpy as np
    from skimage import data

    image = cv2.resize(data.camera(), (size, size), interpolation=cv2.INTER_CUBIC).astype(float)
    image += np.random.default_rng(0).normal(0, 25, image.shape)
    cv2.imwrite(str(path), np.clip(image, 0, 255).round().astype(np.uint8))


def _rss_mb() -> float:
    """Peak RSS so far. Linux carries ru_maxrss over fork and exec: the parent must stay small."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _hwm_mb() -> float | None:
    """Peak RSS of this process image alone (VmHWM, reset at exec): a cross-check."""
    status = Path("/proc/self/status")
    if not status.is_file():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _cpu_s() -> float:
    """CPU seconds of this process: a steadier measure than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def prepare(args: argparse.Namespace) -> None:
    """Write the checkpoint and the images (in a subprocess: the parent's peak RSS stays low)."""
    work = Path(args.workdir)
    make_checkpoint(work / "dncnn_s.ckpt")
    make_image(work / "photo.png", args.size)
    make_image(work / "probe.png", 1024)


def child(args: argparse.Namespace) -> None:
    """One case: load, predict, print a JSON line."""
    import torch

    from restore.predict import predict

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(args.workdir) / f"out_{args.case}"
    tile = "null" if args.tile == 0 else str(args.tile)
    overrides = [f"ckpt_path={args.ckpt}", f"input={args.image}", f"output={out}"]
    overrides += [f"tile={tile}", f"overlap={args.overlap}", f"blend={args.blend}"]
    overrides += ["device=cpu", "precision=fp32"]
    cfg = _compose("predict", overrides, out)
    before, cpu_before = _rss_mb(), _cpu_s()
    start = time.perf_counter()
    predict(cfg)
    wall = time.perf_counter() - start
    result = {"rss_before_mb": before, "peak_rss_mb": _rss_mb(), "vm_hwm_mb": _hwm_mb()}
    print(json.dumps({**result, "wall_s": wall, "cpu_s": _cpu_s() - cpu_before}))


def _run(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, __file__, *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def run_case(case: str, work: Path, image: Path, tile: int, overlap: int, blend: int) -> dict:
    ckpt = work / "dncnn_s.ckpt"
    stdout = _run(
        "--child", "--case", case, "--ckpt", str(ckpt), "--image", str(image),
        "--workdir", str(work), "--tile", str(tile), "--overlap", str(overlap),
        "--blend", str(blend),
    )  # fmt: skip
    result = json.loads(stdout.strip().splitlines()[-1])
    result["predict_rss_mb"] = result["peak_rss_mb"] - result["rss_before_mb"]
    print(case, result, flush=True)
    return result


def available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case", default="")
    parser.add_argument("--ckpt", default="")
    parser.add_argument("--image", default="")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--blend", type=int, default=32, help="predict's blend (0: crop)")
    parser.add_argument("--untiled-limit-gb", type=float, default=16.0)
    parser.add_argument("--output", type=Path, default=RESULT)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.prepare:
        return prepare(args)

    # The parent imports neither torch nor restore: children inherit its peak RSS (see _rss_mb).
    results: dict = {
        "image": f"{args.size}x{args.size} gray 8-bit PNG",
        "model": "DnCNN-S (17 layers x 64 channels, batch norm), random weights",
        "precision": "fp32",
        "device": "cpu",
        "torch_threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or None,
        "cpu": platform.processor() or platform.machine(),
        "memory_available_gb_at_start": round(available_gb(), 1),
    }
    # tiles per axis as restore.inference.tiling.axis_layout places them
    shared = 2 * args.overlap + args.blend
    per_axis = math.ceil((args.size - args.tile) / (args.tile - shared)) + 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _run("--prepare", "--workdir", str(work), "--size", str(args.size))
        results["parent_peak_rss_mb"] = _rss_mb()
        tiled = run_case("tiled", work, work / "photo.png", args.tile, args.overlap, args.blend)
        results["tiled"] = {
            "tile": args.tile, "overlap": args.overlap, "blend": args.blend,
            "tiles": per_axis**2, **tiled,
        }  # fmt: skip

        probe = run_case("untiled_probe_1024", work, work / "probe.png", 0, args.overlap, 0)
        per_pixel = probe["predict_rss_mb"] / 1024**2
        estimate_mb = probe["rss_before_mb"] + per_pixel * args.size**2
        results["untiled_probe_1024"] = probe
        results["untiled_estimate_peak_rss_mb"] = round(estimate_mb)
        if estimate_mb / 1024 <= min(args.untiled_limit_gb, available_gb() - 2.0):
            untiled = run_case("untiled", work, work / "photo.png", 0, args.overlap, 0)
            results["untiled"] = untiled
        else:
            results["untiled"] = None
            results["untiled_note"] = (
                f"not run: estimated peak {estimate_mb / 1024:.1f} GB exceeds the limit of "
                f"{args.untiled_limit_gb} GB or the available memory"
            )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
