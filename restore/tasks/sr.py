"""Single-image super-resolution: restore the high-resolution image from its bicubic downscale.

The LR input is made by the ``noise`` group's downsampling degradation (``noise=bicubic``:
MATLAB's ``imresize(hr, 1/scale, 'bicubic')`` with the uint8 rounding of MATLAB, so it equals the
published benchmark LR files bit for bit; ``noise=bicubic_noise``: then Gaussian noise) or is the
batch's own ``input`` (LR files of a benchmark). Scoring follows the SR tables (SRCNN, Dong et al.
TPAMI 2016;
EDSR, Lim et al. CVPRW 2017): PSNR/SSIM on the BT.601 luma with ``scale`` border pixels cropped,
logged as ``psnr``/``ssim``; RGB PSNR/SSIM (same crop) as ``rgb_psnr``/``rgb_ssim``; the bicubic
upscaling of the LR input is scored as the ``input_`` metrics, so a table shows the gain over
bicubic interpolation.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure
from torchmetrics.wrappers import LambdaInputTransformer

from restore.data.batch import Batch
from restore.degradations import Degradation
from restore.degradations.resize import BicubicDownsample
from restore.metrics.sr import YPSNR, YSSIM, y_psnr
from restore.tasks.base import RestorationTask, modcrop
from restore.utils.errors import ConfigError

__all__ = ["BorderCropped", "SRTask", "modcrop"]


def _crop_border(x: Tensor, border: int) -> Tensor:
    return x[..., border:-border, border:-border] if border > 0 else x


class BorderCropped(LambdaInputTransformer):
    """A (preds, target) metric computed with ``border`` pixels cropped at every side."""

    def __init__(self, metric, border: int):
        crop = partial(_crop_border, border=int(border))
        super().__init__(metric, transform_pred=crop, transform_target=crop)

    def update(self, preds: Tensor, target: Tensor) -> None:
        # A narrow signature: MetricCollection then passes this metric no extra keyword
        # (such as the Y metrics' ``gray``), which the wrapped metric would reject.
        super().update(preds, target)


class SRTask(RestorationTask):
    """Learn ``hr = net(lr)``, ``lr`` the observation of ``hr`` by a downsampling degradation.

    Args:
        scale: the up-scaling factor (2, 3, 4, ...): the network's output is ``scale`` times its
            input, and metrics crop ``scale`` border pixels. The degradation must shrink by the
            same factor (``noise=bicubic`` reads ``task.scale``).
        degradation: ``noise=bicubic`` (classic SR) or a composition starting with it
            (``noise=bicubic_noise``); None with benchmark LR files only.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        degradation: Degradation | None = None,
        scale: int = 2,
        **kwargs: Any,
    ):
        if int(scale) != scale or scale < 2:
            raise ConfigError(f"task.scale must be an integer >= 2 for super-resolution: {scale}")
        super().__init__(net=net, loss=loss, degradation=degradation, scale=int(scale), **kwargs)

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer else None
        patch = getattr(dm, "patch_size", None)
        if stage == "fit" and patch is not None and patch % self.scale:
            raise ConfigError(
                f"data.patch_size={patch} (the HR patch) must be a multiple of "
                f"task.scale={self.scale}, e.g. {self.scale * max(1, patch // self.scale)}"
            )
        super().setup(stage)

    def observe(self, batch: Batch, training: bool = False) -> Batch:
        """As every task's; and the LR files of a benchmark get their forward model: they are
        MATLAB's bicubic downscale of the HR image (the SR tables' protocol), the degradation
        ``noise=bicubic`` computes, so methods that fit the observation through its operator
        (Deep Image Prior) can use them."""
        given = batch.input is not None
        batch = super().observe(batch, training)
        obs, deg = batch.observation, self.degradation
        if given and isinstance(deg, BicubicDownsample) and deg.scale == self.scale:
            batch = batch.replace(observation=replace(obs, operator=deg.resize, linear=True))
        return batch

    # -- scoring -----------------------------------------------------------------------------
    def make_metrics(self, prefix: str) -> MetricCollection:
        s = self.scale
        return MetricCollection(
            {
                "psnr": YPSNR(s),
                "ssim": YSSIM(s),
                "rgb_psnr": BorderCropped(PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3)), s),
                "rgb_ssim": BorderCropped(StructuralSimilarityIndexMeasure(data_range=1.0), s),
            },
            prefix=prefix,
            # never share states: on gray images the Y and RGB scores coincide after one update
            compute_groups=False,
        )

    def metric_kwargs(self, batch: Batch) -> dict[str, Any]:
        return {"gray": batch.gray} if batch.gray is not None else {}

    def per_image_psnr(self, pred: Tensor, target: Tensor, batch: Batch) -> Tensor:
        return y_psnr(pred, target, self.scale, batch.gray)
