"""Throughput of ``restore.predict`` on a large gray photo: untiled vs tiled (fp32), and bf16.

One process, one network, one image, one thread setting: a DnCNN-S-sized network (17 layers x 64
channels, batch norm, random weights: time does not depend on them) restores a ``--size``-square
gray 8-bit photo (scikit-image's camera, resized, plus noise) through
:func:`restore.predict.restore_tensor`, the restoration that ``predict`` runs on every image
(reading and writing the PNG, the same for every case, are left out), in these cases:

* ``untiled``: the whole image in one pass, float32;
* ``tiled``: predict's default tiling (``conf/predict.yaml``: tile, overlap=auto, blend=auto,
  resolved by :func:`restore.predict.tile_margins` as predict does), float32;
* ``tiled_bf16``: the same tiles under bfloat16 autocast (``precision=bf16``);
* ``tiled_legacy`` (``--legacy``): the former defaults, tiles of 512, overlap 32, blend 32.

Each case is timed once after a warm-up (wall and process CPU seconds); the tiled ratio is the
tiled throughput over the untiled one (untiled wall / tiled wall). The tiled output is compared
with the untiled one (max abs difference) and bf16's with fp32's.

bf16's PSNR cost is scored on Set12 (sigma 25) with the authors' released DnCNN-S weights
(``experiment=dncnn_kair_s25``) under the protocol of ``../shared/datasets/README.md``: noise
from ``RandomState(0)`` per image (the task's own :meth:`observe`), the estimate clipped and
rounded to 8 bits, PSNR on the whole image, mean over the 12 images; fp32 must give the
published 30.43 dB. Skipped (null) where ``../shared`` is absent.

    flock /tmp/cpu.lock .venv/bin/python benchmarks/predict_speed.py --size 4096

writes ``experiments/results/predict_speed.json`` and records the ``tiled_ratio`` speed goal
(``benchmarks/speed_goals.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict
from skimage import data

sys.path.insert(0, str(Path(__file__).parent))
from speed_goals import cpu_model, record

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RESULT = ROOT / "experiments" / "results" / "predict_speed.json"
if (SHARED / "weights").is_dir():  # the released weights, as the tests find them
    os.environ.setdefault("RESTORE_WEIGHTS_DIR", str(SHARED / "weights"))

from torchmetrics.functional.image import peak_signal_noise_ratio  # noqa: E402

from restore.data.batch import Batch  # noqa: E402
from restore.imaging import quantize, read_image  # noqa: E402
from restore.inference.loading import build_for_inference  # noqa: E402
from restore.predict import restore_tensor, tile_margins  # noqa: E402
from restore.tasks import RestorationTask  # noqa: E402
from restore.utils.config import CONFIG_DIR  # noqa: E402


def _compose(name: str, overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(ROOT / "outputs" / "bench")  # composed, never written
    return cfg


def dncnn_s(weights: bool = False) -> RestorationTask:
    """DnCNN-S as predict loads it: random weights with batch norm, or the released ones."""
    if weights:
        cfg = _compose("eval", ["experiment=dncnn_kair_s25"])
        return build_for_inference(cfg, keep_weights=True)
    torch.manual_seed(0)
    return build_for_inference(
        _compose("train", ["model=dncnn", "model.depth=17", "model.width=64"])
    )


def photo(size: int) -> torch.Tensor:
    """A gray 8-bit photo-like image as a (1, 1, size, size) float batch."""
    image = cv2.resize(data.camera(), (size, size), interpolation=cv2.INTER_CUBIC).astype(float)
    image += np.random.default_rng(0).normal(0, 25, image.shape)
    image = np.clip(image, 0, 255).round().astype(np.float32) / 255
    return torch.from_numpy(image)[None, None]


def timed(fn) -> tuple[torch.Tensor, dict]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return out, {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def set12_psnr(precisions: list[str], tile: int, overlap: int, blend: int) -> dict | None:
    """Mean Set12 PSNR (sigma 25, released DnCNN-S) per precision, as predict restores."""
    folder = SHARED / "datasets" / "Set12"
    if not folder.is_dir() or not (SHARED / "weights").is_dir():
        return None
    task = dncnn_s(weights=True)
    scores: dict[str, list[float]] = {p: [] for p in precisions}
    for path in sorted(folder.glob("*.png")):
        clean = read_image(path).tensor
        noisy = task.observe(Batch(target=clean, seed=torch.zeros(1, dtype=torch.long))).input
        for precision in precisions:
            out = restore_tensor(task, noisy, tile, overlap, precision=precision, blend=blend)
            psnr = peak_signal_noise_ratio(quantize(out), clean, data_range=1.0)
            scores[precision].append(float(psnr))
    return {p: round(float(np.mean(s)), 4) for p, s in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=None, help="default: torch's own")
    parser.add_argument("--legacy", action="store_true", help="also time 512 / 32 / 32 tiles")
    parser.add_argument("--no-set12", action="store_true", help="skip the PSNR cost")
    parser.add_argument("--no-record", action="store_true", help="leave speed_goals.json")
    parser.add_argument("--output", type=Path, default=RESULT)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()

    cfg = _compose("predict", ["ckpt_path=unused", "input=unused"])
    task = dncnn_s()
    tile = int(cfg.tile)
    overlap, blend = tile_margins(cfg, task)
    x = photo(args.size)
    image = f"{args.size}x{args.size} gray 8-bit"
    restore_tensor(task, x[..., :256, :256], None, 0)  # warm-up: oneDNN primitives, allocator
    restore_tensor(task, x[..., :256, :256], None, 0, precision="bf16")

    results: dict = {
        "image": image,
        "model": "DnCNN-S (17 layers x 64 channels, batch norm), random weights",
        "device": "cpu",
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "threads": threads,
        "interop_threads": torch.get_num_interop_threads(),
        "timed": "restore.predict.restore_tensor (the restoration of predict, without file I/O)",
        "defaults": {"tile": tile, "overlap": overlap, "blend": blend},
        "cases": {},
    }
    cases = results["cases"]
    untiled, cases["untiled"] = timed(lambda: restore_tensor(task, x, None, 0))
    print("untiled", cases["untiled"], flush=True)
    tiled, cases["tiled"] = timed(lambda: restore_tensor(task, x, tile, overlap, blend=blend))
    cases["tiled"].update(tile=tile, overlap=overlap, blend=blend)
    cases["tiled"]["max_abs_diff_vs_untiled"] = (tiled - untiled).abs().max().item()
    print("tiled", cases["tiled"], flush=True)
    del untiled
    bf16, cases["tiled_bf16"] = timed(
        lambda: restore_tensor(task, x, tile, overlap, precision="bf16", blend=blend)
    )
    diff = (bf16 - tiled).abs()
    cases["tiled_bf16"].update(
        max_abs_diff_vs_fp32=diff.max().item(), mean_abs_diff_vs_fp32=diff.mean().item()
    )
    print("tiled_bf16", cases["tiled_bf16"], flush=True)
    del bf16, tiled
    if args.legacy:
        _, cases["tiled_legacy"] = timed(lambda: restore_tensor(task, x, 512, 32, blend=32))
        cases["tiled_legacy"].update(tile=512, overlap=32, blend=32)
        print("tiled_legacy", cases["tiled_legacy"], flush=True)

    for case in cases.values():
        case["megapixels_per_s"] = round(args.size**2 / 1e6 / case["wall_s"], 4)
    ratio = round(cases["untiled"]["wall_s"] / cases["tiled"]["wall_s"], 3)
    speedup = round(cases["tiled"]["wall_s"] / cases["tiled_bf16"]["wall_s"], 3)
    results["tiled_ratio"] = ratio
    results["tiled_ratio_cpu_s"] = round(cases["untiled"]["cpu_s"] / cases["tiled"]["cpu_s"], 3)
    results["bf16_speedup"] = speedup
    if args.legacy:
        results["tiled_ratio_legacy"] = round(
            cases["untiled"]["wall_s"] / cases["tiled_legacy"]["wall_s"], 3
        )

    psnr = None if args.no_set12 else set12_psnr(["fp32", "bf16"], tile, overlap, blend)
    cost = None if psnr is None else round(psnr["fp32"] - psnr["bf16"], 4)
    results["set12_sigma25_released_dncnn_s"] = psnr
    results["bf16_psnr_cost_set12_db"] = cost
    print(json.dumps(results, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    if not args.no_record:
        record(
            "tiled_ratio",
            ratio,
            bf16_speedup=speedup,
            bf16_psnr_cost_set12_db=cost,
            threads=threads,
            image=image,
            tiling=results["defaults"],
            result_file=os.path.relpath(args.output.resolve(), ROOT),
        )


if __name__ == "__main__":
    main()
