"""Image-quality metrics under the published protocol: clip and round to 8 bits, then score."""

from __future__ import annotations

from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure


def quantize(x: Tensor) -> Tensor:
    """Clip to [0, 1] and round to 8-bit levels, as a restored image is saved and scored."""
    return x.clamp(0, 1).mul(255).round().div(255)


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
