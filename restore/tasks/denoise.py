"""Denoising: the degraded input is the clean image plus noise from the ``noise`` group."""

from __future__ import annotations

from typing import Any

from torch import nn

from restore.degradations import Degradation
from restore.tasks.base import RestorationTask


class DenoisingTask(RestorationTask):
    """Learn ``clean = net(clean + noise)``; scored by PSNR/SSIM of the 8-bit restored image."""

    def __init__(self, net: nn.Module, loss: nn.Module, degradation: Degradation, **kwargs: Any):
        if degradation is None:
            raise ValueError("the denoising task needs a noise config (noise=gaussian, ...)")
        super().__init__(net=net, loss=loss, degradation=degradation, **kwargs)
