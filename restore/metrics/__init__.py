"""Metrics: torchmetrics under the evaluation protocol of published restoration tables."""

from restore.metrics.image import quantize, region_psnr, restoration_metrics

__all__ = ["quantize", "region_psnr", "restoration_metrics"]
