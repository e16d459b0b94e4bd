"""Image-quality metrics under the published protocol: clip and round to 8 bits, then score."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from restore.imaging import quantize

__all__ = ["quantize", "region_psnr", "restoration_metrics"]


def restoration_metrics(prefix: str = "") -> MetricCollection:
    """PSNR and SSIM averaged over images (not over pixels of all images pooled)."""
    return MetricCollection(
        {
            # dim=(1, 2, 3): one PSNR per image, then their mean, as published tables average.
            "psnr": PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3)),
            "ssim": StructuralSimilarityIndexMeasure(data_range=1.0),
        },
        prefix=prefix,
    )


def region_psnr(preds: Tensor, target: Tensor, region: Tensor, data_range: float = 1.0) -> Tensor:
    """Per-image PSNR (B,) over the pixels where ``region`` (B or 1, 1 or C, H, W) is true, in
    float64; NaN for an image whose region is empty (inpainting's holes, or its known pixels).

    >>> known = torch.tensor([[[[1, 0], [0, 0]]]])  # one pixel, off by 0.1: 20 dB
    >>> region_psnr(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.1), known).round()
    tensor([20.], dtype=torch.float64)
    """
    region = region.to(torch.float64).expand_as(preds)
    n = region.sum(dim=(1, 2, 3))
    sse = ((preds.double() - target.double()) ** 2 * region).sum(dim=(1, 2, 3))
    mse = torch.where(n > 0, sse / n.clamp(min=1), torch.nan)
    return 10 * torch.log10(data_range**2 / mse.clamp(min=1e-20))
