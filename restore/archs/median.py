"""The median filter as a parameter-free "network": the classical reference row for impulse
(salt-and-pepper) noise, as BM3D is for Gaussian noise, scored through the same ``restore.eval``
as every trained model: ``python -m restore.eval model=median data=denoise_gray noise=salt_pepper``.
"""

from __future__ import annotations

import kornia
import torch.nn.functional as F
from torch import Tensor, nn


class Median(nn.Module):
    """Replace each pixel by the median of its ``kernel_size`` x ``kernel_size`` window (per
    channel).

    The image is reflect-padded first: ``kornia.filters.median_blur`` pads with zeros, which
    would pull the border pixels' medians towards black.

    >>> import torch
    >>> x = torch.full((1, 1, 5, 5), 0.5)
    >>> x[0, 0, 2, 2] = 1.0  # one salt pixel
    >>> Median(kernel_size=3)(x).unique().tolist()
    [0.5]
    """

    def __init__(
        self, kernel_size: int = 3, in_channels: int | None = None, out_channels: int | None = None
    ):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"model.kernel_size must be an odd side >= 1, got {kernel_size}")
        if in_channels is not None and out_channels is not None and in_channels != out_channels:
            raise ValueError("the median filter keeps the channels: in_channels != out_channels")
        self.kernel_size = kernel_size

    def forward(self, x: Tensor) -> Tensor:
        half = self.kernel_size // 2
        if half == 0:
            return x
        if min(x.shape[-2:]) <= half:
            raise ValueError(
                f"a {self.kernel_size}x{self.kernel_size} median needs images larger than {half} "
                f"pixels a side, got {tuple(x.shape[-2:])}: use a larger data.test_crop"
            )
        padded = F.pad(x, (half, half, half, half), mode="reflect")
        out = kornia.filters.median_blur(padded, self.kernel_size)
        return out[..., half:-half, half:-half]

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"
