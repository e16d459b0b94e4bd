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
    from restore.utils.config import to_container

    cfg = _compose("train", ["model=dncnn", "model.depth=17", "model.width=64"], path.parent)
    task = build_task(cfg)
    torch.save({"state_dict": task.state_dict(), "restore_config": to_container(cfg)}, path)


def make_image(path: Path, size: int) -> None:
    """A gray 8-bit photo-like image: scikit-image's camera, resized, plus noise."""
    import cv2
    import numpy as np
    from skimage import data

    image = cv2.resize(data.camera(), (size, size), interpolation=cv2.INTER_CUBIC).astype(float)
    image += np.random.default_rng(0).normal(0, 25, image.shape)
    cv2.imwrite(str(path), np.clip(image, 0, 255).round().astype(np.uint8))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    """CPU seconds of this process: a steadier measure than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(args: argparse.Namespace) -> None:
    """One case: load, predict, print a JSON line."""
    import torch

    from restore.predict import predict

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(args.workdir) / f"out_{args.case}"
    tile = "null" if args.tile == 0 else str(args.tile)
    cfg = _compose(
        "predict",
        [
            f"ckpt_path={args.ckpt}",
            f"input={args.image}",
            f"output={out}",
            f"tile={tile}",
            f"overlap={args.overlap}",
            "device=cpu",
            "precision=fp32",
        ],
        out,
    )
    before, cpu_before = _rss_mb(), _cpu_s()
    start = time.perf_counter()
    predict(cfg)
    wall = time.perf_counter() - start
    result = {"rss_before_mb": before, "peak_rss_mb": _rss_mb(), "wall_s": wall}
    print(json.dumps({**result, "cpu_s": _cpu_s() - cpu_before}))


def run_case(case: str, ckpt: Path, image: Path, workdir: Path, tile: int, overlap: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--case",
        case,
        "--ckpt",
        str(ckpt),
        "--image",
        str(image),
        "--workdir",
        str(workdir),
        "--tile",
        str(tile),
        "--overlap",
        str(overlap),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
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
    parser.add_argument("--case", default="")
    parser.add_argument("--ckpt", default="")
    parser.add_argument("--image", default="")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--untiled-limit-gb", type=float, default=16.0)
    parser.add_argument("--output", type=Path, default=RESULT)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    sys.path.insert(0, str(ROOT))
    from restore.inference.tiling import axis_starts

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ckpt, image, probe = work / "dncnn_s.ckpt", work / "photo.png", work / "probe.png"
        make_checkpoint(ckpt)
        make_image(image, args.size)
        make_image(probe, 1024)
        tiles = len(axis_starts(args.size, args.tile, args.overlap, args.overlap)) ** 2
        results: dict = {
            "image": f"{args.size}x{args.size} gray 8-bit PNG",
            "model": "DnCNN-S (17 layers x 64 channels, batch norm), random weights",
            "precision": "fp32",
            "device": "cpu",
            "torch_threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or None,
            "cpu": platform.processor() or platform.machine(),
            "memory_available_gb_at_start": round(available_gb(), 1),
        }
        tiled = run_case("tiled", ckpt, image, work, args.tile, args.overlap)
        results["tiled"] = {"tile": args.tile, "overlap": args.overlap, "tiles": tiles, **tiled}

        probe_run = run_case("untiled_probe_1024", ckpt, probe, work, 0, args.overlap)
        per_pixel = probe_run["predict_rss_mb"] / 1024**2
        estimate_mb = probe_run["rss_before_mb"] + per_pixel * args.size**2
        results["untiled_probe_1024"] = probe_run
        results["untiled_estimate_peak_rss_mb"] = round(estimate_mb)
        fits = estimate_mb / 1024 <= min(args.untiled_limit_gb, available_gb() - 2.0)
        if fits:
            results["untiled"] = run_case("untiled", ckpt, image, work, 0, args.overlap)
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
