"""Single-image super-resolution: restore the high-resolution image from its bicubic downscale.

The LR input is MATLAB's ``imresize(hr, 1/scale, 'bicubic')`` made on the device (with the uint8
rounding of MATLAB, so it equals the published benchmark LR files bit for bit) or the batch's own
``input`` (LR files of a benchmark). Scoring follows the SR tables (SRCNN, Dong et al. TPAMI 2016;
EDSR, Lim et al. CVPRW 2017): PSNR/SSIM on the BT.601 luma with ``scale`` border pixels cropped,
logged as ``psnr``/``ssim``; RGB PSNR/SSIM (same crop) as ``rgb_psnr``/``rgb_ssim``; the bicubic
upscaling of the LR input is scored as the ``input_`` metrics, so a table shows the gain over
bicubic interpolation.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure
from torchmetrics.wrappers import LambdaInputTransformer

from restore.degradations import Degradation, SeededNoise, TorchNoise
from restore.degradations.resize import imresize
from restore.metrics.sr import YPSNR, YSSIM, y_psnr
from restore.tasks.base import RestorationTask
from restore.utils.errors import ConfigError, DataError


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


def modcrop(x: Tensor, scale: int) -> Tensor:
    """Crop the bottom/right so that H and W are multiples of ``scale`` (as the SR benchmarks)."""
    h, w = x.shape[-2:]
    return x[..., : h - h % scale, : w - w % scale]


class SRTask(RestorationTask):
    """Learn ``hr = net(lr)``, ``lr`` the MATLAB bicubic downscale of ``hr`` by ``scale``.

    Args:
        scale: the up-scaling factor (2, 3, 4, ...): the network's output is ``scale`` times its
            input, and metrics crop ``scale`` border pixels.
        degradation: optional extra degradation applied to the LR image (e.g. noise); None for
            the classic bicubic SR.
        train_uint8: round the training LR to 8-bit levels as the evaluation LR (the benchmark
            files) are; ``False`` keeps the float downscale.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        degradation: Degradation | None = None,
        scale: int = 2,
        train_uint8: bool = True,
        **kwargs: Any,
    ):
        if int(scale) != scale or scale < 2:
            raise ConfigError(f"task.scale must be an integer >= 2 for super-resolution: {scale}")
        self.train_uint8 = train_uint8
        super().__init__(net=net, loss=loss, degradation=degradation, scale=int(scale), **kwargs)

    # -- inputs ------------------------------------------------------------------------------
    def make_input(self, hr: Tensor, training: bool, source=None) -> Tensor:
        """The LR image of a float HR batch (H, W multiples of ``scale``).

        Evaluation always rounds each resize pass to uint8 as MATLAB does on uint8 images, so
        the LR equals the benchmark LR files; training does when ``train_uint8``.
        """
        lr = imresize(hr.float(), 1.0 / self.scale, emulate_uint8=not training or self.train_uint8)
        if self.degradation is not None:
            lr = self.degradation(lr, source or TorchNoise())
        return lr

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer else None
        patch = getattr(dm, "patch_size", None)
        if stage == "fit" and patch is not None and patch % self.scale:
            raise ConfigError(
                f"data.patch_size={patch} (the HR patch) must be a multiple of "
                f"task.scale={self.scale}, e.g. {self.scale * max(1, patch // self.scale)}"
            )
        super().setup(stage)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        batch = dict(batch)
        target = batch["target"]
        if "input" not in batch:
            target = modcrop(target, self.scale)
            if not target.is_floating_point():
                target = target.float().div_(255)
            training = self.trainer.training
            source = TorchNoise() if training else SeededNoise(batch["seed"].tolist())
            batch["target"] = target
            batch["input"] = self.make_input(target, training, source)
        else:
            lr_size = tuple(s * self.scale for s in batch["input"].shape[-2:])
            if tuple(target.shape[-2:]) != lr_size:
                raise DataError(
                    f"HR images {tuple(target.shape[-2:])} are not task.scale={self.scale} "
                    f"times their LR inputs {tuple(batch['input'].shape[-2:])}"
                )
        return super().on_after_batch_transfer(batch, dataloader_idx)

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

    def metric_kwargs(self, batch: dict) -> dict[str, Any]:
        return {"gray": batch["gray"]} if "gray" in batch else {}

    def degraded_view(self, batch: dict) -> Tensor:
        """Bicubic upscaling of the LR input (MATLAB, rounded per pass as on uint8 images)."""
        return imresize(batch["input"].float(), self.scale, emulate_uint8=True)

    def per_image_psnr(self, pred: Tensor, target: Tensor, batch: dict) -> Tensor:
        return y_psnr(pred, target, self.scale, batch.get("gray"))
