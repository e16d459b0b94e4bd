"""The published denoising protocol for the benchmarks that score a task on a test set directly.

N(0, (sigma/255)^2) from ``RandomState(0)`` per image (the task's ``observe`` with seed 0), not
clipped; the estimate clipped and rounded to 8 bits; PSNR over the whole image, averaged over the
set (``../shared/datasets/README.md``). ``restore.eval`` scores through the datamodule; these
helpers serve the benchmarks that need the noisy input itself (BM3D beside the model) or score
one network many ways (``ema_bn_check.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from restore.data.batch import Batch
from restore.imaging import list_images, read_uint8
from restore.metrics import quantize
from restore.tasks import RestorationTask
from restore.utils.config import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared" / "datasets"


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a - b).pow(2).mean()))


def clean_images(set_name: str, limit: int | None = None) -> list[tuple[str, torch.Tensor]]:
    """``(name, image)`` of a gray test set in ``../shared/datasets``, (1, 1, H, W) in [0, 1]."""
    files = list_images(SHARED / set_name, f"test set {set_name}")[:limit]
    return [
        (p.stem, torch.tensor(read_uint8(p, 1)[..., 0], dtype=torch.float32)[None, None] / 255)
        for p in files
    ]


def observe(task: RestorationTask, clean: torch.Tensor) -> Batch:
    """The protocol's noisy observation of one image, made by the task's degradation."""
    with torch.inference_mode():
        return task.observe(Batch(target=clean, seed=torch.tensor([0])))


def restored_psnr(task: RestorationTask, batch: Batch) -> float:
    """PSNR of the task's 8-bit estimate of ``batch`` against its target."""
    with torch.inference_mode():
        return psnr(quantize(task.restore_batch(batch)), batch.target)


def mean_psnr(task: RestorationTask, set_name: str, limit: int | None = None) -> float:
    """The task's mean PSNR over a test set under the protocol."""
    task.eval()
    return float(
        np.mean([restored_psnr(task, observe(task, x)) for _, x in clean_images(set_name, limit)])
    )
