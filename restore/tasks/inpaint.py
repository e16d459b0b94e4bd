"""Inpainting: fill the missing pixels of an image, given which pixels are missing.

The mask (1 known, 0 missing) comes from the observation of the ``noise`` group's ``mask_*``
options (alone or composed, e.g. ``mask_noise``: holes, then noise), drawn on the device per image
(reproducible in validation and test), or from the batch (``mask``). The network
sees the masked image with the mask as one more channel, as in the learned inpainting networks
since Pathak et al. (Context Encoders, CVPR 2016) and Yu et al. (DeepFill, 2018-2019): it needs
``data.channels + 1`` input channels, which ``conf/task/inpaint.yaml`` sets on the model config.
Known pixels are passed through (``pred = mask * input + (1 - mask) * net``), so the loss and the
metrics only depend on the holes; ``hole_psnr`` scores the holes alone.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from restore.data.batch import Batch
from restore.degradations import Degradation
from restore.metrics import region_psnr
from restore.tasks.base import RestorationTask
from restore.utils.errors import ConfigError

# The model's input channels are ``${add:${data.channels},${task.extra_in_channels}}`` (the
# ``add`` resolver is registered in restore.utils.config).


class HolePSNR(Metric):
    """PSNR over the missing pixels only (mask == 0), per image, averaged over images.

    ``update(preds, target, mask)``; images without a hole are left out of the mean.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, data_range: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_range = float(data_range)
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor, mask: Tensor) -> None:
        psnr = region_psnr(preds, target, mask < 0.5, self.data_range)
        has_hole = ~psnr.isnan()
        self.total += psnr[has_hole].sum()
        self.count += int(has_hole.sum())

    def compute(self) -> Tensor:
        return (self.total / self.count).float()


class InpaintTask(RestorationTask):
    """Learn to fill holes: ``pred = mask * input + (1 - mask) * net(cat(input, mask))``.

    Args:
        degradation: a mask option (``noise=mask_strokes``, ...); may be None only when the
            batches bring their own ``mask``.
        pass_through: keep the known pixels of the input in the output (default). Without it the
            network's output is used everywhere (and the loss covers known pixels too).
        extra_in_channels: channels the task adds to the network input (the mask: 1). Read by
            the model config (``in_channels: ${add:${data.channels},${task.extra_in_channels}}``).
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        degradation: Degradation | None = None,
        pass_through: bool = True,
        extra_in_channels: int = 1,
        **kwargs: Any,
    ):
        if extra_in_channels != 1:
            raise ConfigError("task.extra_in_channels is the mask channel: it must be 1")
        super().__init__(net=net, loss=loss, degradation=degradation, **kwargs)
        self.pass_through = pass_through
        self.extra_in_channels = extra_in_channels

    def observe(self, batch: Batch, training: bool = False) -> Batch:
        batch = super().observe(batch, training)
        if batch.mask is None:
            name = type(self.degradation).__name__ if self.degradation is not None else "none"
            raise ConfigError(
                f"task=inpaint needs a mask: the degradation ({name}) drew none. Choose "
                "noise=mask_strokes, mask_boxes, mask_random, mask_text, mask_file or mask_noise"
            )
        return batch

    def net_input(self, batch: Batch) -> Tensor:
        x = batch.input
        return torch.cat([x, batch.mask.to(x.dtype)], dim=1)

    def finish(self, pred: Tensor, batch: Batch) -> Tensor:
        if not self.pass_through:
            return pred
        mask = batch.mask
        return mask * batch.input + (1 - mask) * pred

    def make_metrics(self, prefix: str) -> MetricCollection:
        return MetricCollection(
            {
                "psnr": PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3)),
                "ssim": StructuralSimilarityIndexMeasure(data_range=1.0),
                "hole_psnr": HolePSNR(),
            },
            prefix=prefix,
            compute_groups=False,
        )

    def metric_kwargs(self, batch: Batch) -> dict[str, Any]:
        return {"mask": batch.mask}
