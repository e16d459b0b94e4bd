"""Degraded / restored / clean image panels: a PNG grid of test images, logger panels in val."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor
from torchvision.utils import make_grid, save_image

from restore.imaging import center_crop


def _row(input_: Tensor, pred: Tensor, target: Tensor, crop: int | None) -> list[Tensor]:
    """Three same-size RGB panels (the input is upsampled when it is smaller, as in SR)."""
    size = target.shape[-2:]
    if input_.shape[-2:] != size:
        input_ = F.interpolate(input_[None], size=size, mode="nearest")[0]
    panels = [center_crop(t.float().clamp(0, 1), crop) for t in (input_, pred, target)]
    return [p.expand(3, -1, -1) if p.shape[0] == 1 else p for p in panels]


class ImageSamples(L.Callback):
    """Writes ``test_samples_<set>.png`` (rows: degraded | restored | clean) after testing, and
    logs the same panels for the first validation batch to loggers that take images."""

    def __init__(self, output_dir: str, num_images: int = 4, crop: int | None = 256):
        self.output_dir = Path(output_dir)
        self.num_images = num_images
        self.crop = crop
        self._rows: dict[str, list[Tensor]] = {}

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._rows = {}

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if not isinstance(outputs, dict) or "pred" not in outputs:
            return
        rows = self._rows.setdefault(outputs["set"], [])
        for i in range(outputs["pred"].shape[0]):
            if len(rows) >= 3 * self.num_images:
                return
            rows += [
                t.cpu()
                for t in _row(
                    outputs["input"][i], outputs["pred"][i], outputs["target"][i], self.crop
                )
            ]

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        for name, panels in self._rows.items():
            panels = _same_size(panels)
            save_image(
                make_grid(panels, nrow=3, padding=4, pad_value=1.0),
                self.output_dir / f"test_samples_{name}.png",
            )

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ):
        if batch_idx != 0 or trainer.sanity_checking or not trainer.loggers:
            return
        n = self.num_images
        sub = batch.head(n)
        with torch.no_grad():
            pred = pl_module.restore_batch(sub)
            degraded = pl_module.degraded_view(sub)
        panels = []
        for i in range(pred.shape[0]):
            panels += _row(degraded[i], pred[i], sub.target[i], self.crop)
        grid = make_grid(_same_size([p.cpu() for p in panels]), nrow=3, padding=4, pad_value=1.0)
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):  # W&B
                logger.log_image(
                    "val/samples",
                    [grid],
                    step=trainer.global_step,
                    caption=["degraded | restored | clean"],
                )
            elif hasattr(getattr(logger, "experiment", None), "add_image"):  # TensorBoard
                logger.experiment.add_image("val/samples", grid, trainer.global_step)


def _same_size(panels: list[Tensor]) -> list[Tensor]:
    """Pad panels to the largest height/width so that images of different sizes share a grid."""
    h = max(p.shape[-2] for p in panels)
    w = max(p.shape[-1] for p in panels)
    return [F.pad(p, (0, w - p.shape[-1], 0, h - p.shape[-2]), value=1.0) for p in panels]
