"""Metrics: torchmetrics under the evaluation protocol of published restoration tables."""

from restore.metrics.image import quantize, restoration_metrics

__all__ = ["quantize", "restoration_metrics"]
