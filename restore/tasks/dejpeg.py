"""JPEG artefact removal: restore the decoded JPEG (``noise=jpeg``), scored by PSNR-B as well.

PSNR-B (Yim & Bovik, "Quality Assessment of Deblocked Images", IEEE TIP 2011) lowers the PSNR by
how much blocking the image shows across the 8x8 block borders; it is the third column of the
artefact-removal tables (ARCNN, Dong et al. ICCV 2015; DnCNN-3; FBCNN, Jiang et al. ICCV 2021),
computed per image on the luma (gray images as they are, colour ones on BT.601 Y) and averaged
over images. torchmetrics' PSNR-B pools the error of a whole batch; this wraps its functional
form per image so that the mean matches the tables at any batch size.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.functional.image import peak_signal_noise_ratio_with_blocked_effect

from restore.imaging import rgb_to_y
from restore.metrics import restoration_metrics
from restore.tasks.base import RestorationTask


class PSNRB(Metric):
    """PSNR-B per image on the luma, averaged over images (``update(preds, target)``)."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, block_size: int = 8, **kwargs: Any):
        super().__init__(**kwargs)
        self.block_size = block_size
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        preds, target = rgb_to_y(preds.float()), rgb_to_y(target.float())
        for p, t in zip(preds, target, strict=True):
            value = peak_signal_noise_ratio_with_blocked_effect(
                p[None], t[None], data_range=1.0, block_size=self.block_size
            )
            self.total += value.double()
            self.count += 1

    def compute(self) -> Tensor:
        return (self.total / self.count).float()


class DeJPEGTask(RestorationTask):
    """Learn ``clean = net(jpeg(clean))``: PSNR and SSIM as every task, plus PSNR-B."""

    def make_metrics(self, prefix: str) -> MetricCollection:
        metrics = restoration_metrics(prefix)
        metrics.add_metrics({"psnr_b": PSNRB()})  # named under the collection's prefix
        return metrics
