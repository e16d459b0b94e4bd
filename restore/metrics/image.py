"""Image-quality metrics under the published protocol: clip and round to 8 bits, then score."""

from __future__ import annotations

from torchmetrics import MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from restore.imaging import quantize

__all__ = ["quantize", "restoration_metrics"]


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
