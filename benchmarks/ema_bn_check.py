"""Where an EMA of a batch-normalised denoiser loses: its weights, or its averaged BN statistics;
and whether BN statistics recomputed on whole images instead of patches help any checkpoint.

An EMA checkpoint (``callbacks=[default,ema]``) holds the averaged weights *and* averaged BN
running statistics (Lightning averages the buffers too); the average of the statistics of many
networks is not the statistics of the averaged network. This scores one checkpoint on Set12 at
its training noise level (the published protocol, ``denoise_protocol.py``): the weights as
saved, the raw weights an EMA checkpoint also keeps (``current_model_state``), and the saved
weights with their BN statistics recomputed (``torch.optim.swa_utils.update_bn``, as SWA does)
on the run's own training inputs (its data config's patches, degraded by its task) and on its
whole training images, degraded (what a test image looks like to the deepest level).

    python benchmarks/ema_bn_check.py --ckpt outputs/.../checkpoints/last.ckpt

Adds the checkpoint's row to experiments/results/ema_bn_check.json (one entry per checkpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import hydra
import torch
from torch.optim.swa_utils import update_bn

from restore.data.batch import Batch
from restore.data.datamodule import same_size_batches
from restore.inference.loading import load_task
from restore.utils.config import PROJECT_ROOT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from denoise_protocol import mean_psnr

RESULTS = PROJECT_ROOT / "experiments" / "results" / "ema_bn_check.json"


def _datamodule(task, **overrides):
    """The run's own training data, from the data config its checkpoint stores."""
    datamodule = hydra.utils.instantiate({**task.run_config["data"], **overrides})
    datamodule.setup()
    return datamodule


def training_inputs(task, batches: int, seed: int = 0):
    """``batches`` batches of the run's own training inputs: its data config's patches (drawn
    in this process, as ``data.resident`` does), degraded by its task."""
    datamodule = _datamodule(task, resident=True, num_workers=0)
    torch.manual_seed(seed)  # the resident sampler's seed and the noise's
    for _, batch in zip(range(batches), datamodule.train_dataloader(), strict=False):
        with torch.no_grad():
            yield task.observe(batch, training=True).input


def training_images(task, batch: int = 8, seed: int = 0):
    """The run's training images whole (Train400: all 180x180), degraded by its task, ``batch``
    images of one size at a time."""
    datamodule = _datamodule(task)
    images = [
        torch.from_numpy(datamodule.store(ex.target)).permute(2, 0, 1)
        for ex in datamodule.train_examples
    ]
    torch.manual_seed(seed)
    for group in same_size_batches([tuple(x.shape) for x in images], batch):
        with torch.no_grad():
            yield task.observe(Batch(target=torch.stack([images[i] for i in group])), True).input


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="a checkpoint (an EMA run's: all rows)")
    parser.add_argument("--batches", type=int, default=100, help="batches for update_bn")
    args = parser.parse_args()

    state = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    task = load_task(args.ckpt).float()
    saved = {k: v.clone() for k, v in task.state_dict().items()}
    sigma = getattr(task.degradation, "sigma", None)
    result = {"checkpoint": args.ckpt, "sigma": sigma, "set12": {}}
    scores = result["set12"]
    scores["as_saved"] = mean_psnr(task, "Set12")
    if "current_model_state" in state:  # an EMA run: its raw weights too
        task.load_state_dict(state["current_model_state"])
        scores["raw_weights"] = mean_psnr(task, "Set12")
    for name, batches in (
        ("bn_recomputed_patches", training_inputs(task, args.batches)),
        ("bn_recomputed_whole_images", training_images(task)),
    ):
        task.load_state_dict(saved)
        update_bn(batches, task.net)
        scores[name] = mean_psnr(task, "Set12")
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
