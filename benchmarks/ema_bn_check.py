"""Where an EMA of a batch-normalised denoiser loses: its weights, or its averaged BN statistics;
and whether BN statistics recomputed on whole images instead of patches help any checkpoint.

An EMA checkpoint (``callbacks=[default,ema]``) holds the averaged weights *and* averaged BN
running statistics (Lightning averages the buffers too); the average of the statistics of many
networks is not the statistics of the averaged network. This scores one checkpoint on Set12 at
sigma 25 (the published protocol, as ``bm3d_vs_model.py``): the weights as saved, the raw
weights an EMA checkpoint also keeps (``current_model_state``), and the saved weights with their
BN statistics recomputed (``torch.optim.swa_utils.update_bn``, as SWA does) on noisy Train400
patches (the training inputs) and on the noisy whole Train400 images (what a test image looks
like to the deepest level).

    python benchmarks/ema_bn_check.py --ckpt outputs/.../checkpoints/last.ckpt

Adds the checkpoint's row to experiments/results/ema_bn_check.json (one entry per checkpoint).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch.optim.swa_utils import update_bn

from restore.data.batch import Batch
from restore.imaging import list_images, read_uint8
from restore.inference.loading import load_task
from restore.metrics import quantize
from restore.utils.config import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "experiments" / "results" / "ema_bn_check.json"
SHARED = PROJECT_ROOT.parent / "shared" / "datasets"


def set12_psnr(task, sigma: float) -> float:
    """Mean PSNR over Set12: the protocol's noisy inputs, estimates clipped and quantised."""
    task.eval()
    scores = []
    for path in list_images(SHARED / "Set12", "test set Set12"):
        clean = torch.tensor(read_uint8(path, 1)[..., 0], dtype=torch.float32)[None, None] / 255
        with torch.inference_mode():
            batch = task.observe(Batch(target=clean, seed=torch.tensor([0])))
            err = quantize(task.restore_batch(batch)) - clean
        scores.append(float(10 * torch.log10(1 / err.pow(2).mean())))
    return float(np.mean(scores))


def noisy_patches(sigma: float, batches: int, batch: int = 16, patch: int = 64, seed: int = 0):
    """``batches`` batches of noisy random Train400 patches (the network's training inputs)."""
    g = torch.Generator().manual_seed(seed)
    images = [
        torch.tensor(read_uint8(p, 1)[..., 0], dtype=torch.float32) / 255
        for p in list_images(SHARED / "Train400", "Train400")
    ]
    for _ in range(batches):
        crops = []
        for _ in range(batch):
            im = images[int(torch.randint(len(images), (1,), generator=g))]
            y, x = (int(torch.randint(n - patch + 1, (1,), generator=g)) for n in im.shape)
            crops.append(im[y : y + patch, x : x + patch])
        clean = torch.stack(crops)[:, None]
        yield clean + sigma / 255 * torch.randn(clean.shape, generator=g)


def noisy_whole_images(sigma: float, batch: int = 8, seed: int = 0):
    """The Train400 images whole (all 180x180), with noise, ``batch`` at a time."""
    g = torch.Generator().manual_seed(seed)
    paths = list_images(SHARED / "Train400", "Train400")
    for start in range(0, len(paths), batch):
        clean = torch.stack(
            [
                torch.tensor(read_uint8(p, 1)[..., 0], dtype=torch.float32) / 255
                for p in paths[start : start + batch]
            ]
        )[:, None]
        yield clean + sigma / 255 * torch.randn(clean.shape, generator=g)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="a checkpoint (an EMA run's: all rows)")
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--batches", type=int, default=100, help="batches for update_bn")
    args = parser.parse_args()

    state = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    task = load_task(args.ckpt).float()
    saved = {k: v.clone() for k, v in task.state_dict().items()}
    result = {"checkpoint": args.ckpt, "sigma": args.sigma, "set12": {}}
    scores = result["set12"]
    scores["as_saved"] = set12_psnr(task, args.sigma)
    if "current_model_state" in state:  # an EMA run: its raw weights too
        task.load_state_dict(state["current_model_state"])
        scores["raw_weights"] = set12_psnr(task, args.sigma)
    for name, batches in (
        ("bn_recomputed_patches", noisy_patches(args.sigma, args.batches)),
        ("bn_recomputed_whole_images", noisy_whole_images(args.sigma)),
    ):
        task.load_state_dict(saved)
        update_bn(batches, task.net)
        scores[name] = set12_psnr(task, args.sigma)
    result["update_bn_batches"] = args.batches
    result["date"] = time.strftime("%Y-%m-%d %H:%M")
    for name, value in result["set12"].items():
        print(f"Set12 {name:27s} {value:.2f} dB")
    runs = json.loads(RESULTS.read_text()).get("runs", {}) if RESULTS.exists() else {}
    runs[args.ckpt] = result
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
