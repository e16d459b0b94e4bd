"""DIV2K training patches per second with and without the decode-once memory-mapped cache.

Builds a synthetic DIV2K-shaped tree in a temporary folder: ``--images`` (20) 2040x1356 RGB PNGs of
random photo-like texture (smooth random colour fields, edges and grain, so that PNG sizes and
decode times are close to DIV2K's ~4.4 MB average) in ``DIV2K_train_HR`` (plus two in
``DIV2K_valid_HR``), and their X2 LR files. Then it times the ``train_dataloader`` of
``RestorationDataModule`` on the ``div2k`` layout (DataLoader, num_workers 0, HR patch 96, batch 16)
with ``cache: false`` (every patch decodes its PNG(s)) and ``cache: true`` (patches are read from
memory-mapped .npy files), for ``lr_source: bicubic`` (HR only) and ``lr_source: files`` (HR +
aligned LR patch). The one-time cost of building the cache is reported separately. Rounds alternate
the two settings; the best round of each is kept.

    python benchmarks/div2k_cache.py [--images 20] [--rounds 3]

Writes experiments/results/div2k_cache.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from restore.data import RestorationDataModule
from restore.data.div2k import div2k

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results" / "div2k_cache.json"
SIZE = (2040, 1356)  # DIV2K's usual width x height


def texture(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A photo-like random image: upsampled random colour field + blurred shapes + grain."""
    w, h = size
    base = rng.integers(0, 256, (h // 40 + 1, w // 40 + 1, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((w, h), Image.BICUBIC)
    shapes = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    detail = (
        Image.fromarray(shapes).resize((w, h), Image.NEAREST).filter(ImageFilter.GaussianBlur(3))
    )
    mixed = np.asarray(img, np.float32) * 0.7 + np.asarray(detail, np.float32) * 0.3
    mixed += rng.normal(0, 4, mixed.shape).astype(np.float32)
    return Image.fromarray(np.clip(mixed, 0, 255).astype(np.uint8))


def make_fixture(root: Path, n_train: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    sizes = []
    for split, ids in (("train", range(1, n_train + 1)), ("valid", (801, 802))):
        hr_dir = root / f"DIV2K_{split}_HR"
        lr_dir = root / f"DIV2K_{split}_LR_bicubic" / "X2"
        hr_dir.mkdir(parents=True)
        lr_dir.mkdir(parents=True)
        for i in ids:
            img = texture(rng, SIZE)
            img.save(hr_dir / f"{i:04d}.png")
            img.resize((SIZE[0] // 2, SIZE[1] // 2), Image.BICUBIC).save(lr_dir / f"{i:04d}x2.png")
            sizes.append((hr_dir / f"{i:04d}.png").stat().st_size)
    return {"hr_png_mean_mb": round(float(np.mean(sizes)) / 1e6, 2)}


def patches_per_second(dm: RestorationDataModule) -> float:
    dm.setup("fit")
    loader = dm.train_dataloader()
    start = time.perf_counter()
    n = 0
    for batch in loader:
        n += batch.target.shape[0]
    return n / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    out: dict = {
        "benchmark": "DIV2K training patches/s: decode-once memory-mapped cache vs decoding PNGs",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "fixture": {
            "images": args.images,
            "size": f"{SIZE[0]}x{SIZE[1]}",
            "kind": "synthetic photo-like random texture PNGs (PIL), + X2 LR PNGs",
        },
        "patch_size_hr": 96,
        "batch_size": 16,
        "num_workers": 0,
        "rounds": args.rounds,
        "results": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "DIV2K"
        t0 = time.perf_counter()
        out["fixture"].update(make_fixture(root, args.images))
        out["fixture"]["build_s"] = round(time.perf_counter() - t0, 1)
        for lr_source in ("bicubic", "files"):

            def dm(cache: bool, n: int, lr_source=lr_source) -> RestorationDataModule:
                return RestorationDataModule(
                    partial(div2k, str(root), scale=2, lr_source=lr_source),
                    channels=3,
                    scale=2,
                    cache=cache,
                    patch_size=96,
                    batch_size=16,
                    patches_per_epoch=n,
                    num_workers=0,
                )

            shutil.rmtree(root / ".cache", ignore_errors=True)  # each mode builds its own cache
            cached = dm(True, args.cached_patches)
            t0 = time.perf_counter()
            cached.prepare_data()  # the one-time decode into .npy files
            build_s = time.perf_counter() - t0
            best = {"no_cache": 0.0, "cache": 0.0}
            for _ in range(args.rounds):
                best["no_cache"] = max(
                    best["no_cache"], patches_per_second(dm(False, args.uncached_patches))
                )
                best["cache"] = max(best["cache"], patches_per_second(cached))
            cache_bytes = sum(
                p.stat().st_size for p in (root / ".cache").rglob("*.npy") if p.is_file()
            )
            out["results"][lr_source] = {
                "no_cache_patches_per_s": round(best["no_cache"], 1),
                "cache_patches_per_s": round(best["cache"], 1),
                "ratio": round(best["cache"] / best["no_cache"], 1),
                "cache_build_s": round(build_s, 2),
                "cache_mb_total": round(cache_bytes / 1e6, 1),
                "patches_timed": {"no_cache": args.uncached_patches, "cache": args.cached_patches},
            }
            print(lr_source, out["results"][lr_source], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uncached-patches", type=int, default=48)
    parser.add_argument("--cached-patches", type=int, default=4096)
    args = parser.parse_args()
    out = run(args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
