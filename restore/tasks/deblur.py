"""Deblurring: restore the sharp image from a blurred one (synthetic blur or real pairs).

Synthetic blur is made on the device by the ``noise`` group's blur options (``blur_gaussian``,
``blur_motion``, ``blur_noise``: kernels drawn per image, reproducible in validation and test);
a paired dataset (e.g. GoPro, Nah et al. CVPR 2017) brings the real blurred photo as the batch's
``input`` and then no degradation is applied.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from restore.degradations import Degradation
from restore.tasks.base import RestorationTask


class DeblurTask(RestorationTask):
    """Learn ``sharp = net(blurred)``; scored by PSNR/SSIM of the 8-bit restored image.

    ``degradation`` may be None only with a paired dataset: a batch without ``input`` then
    raises a clear error, and misaligned pairs are refused by :meth:`RestorationTask.observe`.
    """

    def __init__(
        self, net: nn.Module, loss: nn.Module, degradation: Degradation | None = None, **kwargs: Any
    ):
        super().__init__(net=net, loss=loss, degradation=degradation, **kwargs)
