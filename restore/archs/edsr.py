"""EDSR: Enhanced Deep Residual Network.

Lim, Son, Kim, Nah & Lee, "Enhanced Deep Residual Networks for Single Image Super-Resolution",
CVPRW 2017. Follows the authors' reference code (thstkdgus35/EDSR-PyTorch): mean shift, head conv,
residual blocks conv-ReLU-conv without batch norm scaled by ``res_scale``, body conv with a long
skip, sub-pixel (pixel-shuffle) up-sampler, tail conv, mean shift back. ``scale=1`` drops the
up-sampler, which turns EDSR into a denoising/deblurring network.
"""

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def _conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class MeanShift(nn.Module):
    """Adds ``sign * rgb_range * mean`` per channel (a fixed buffer, not a trainable parameter).

    The reference code uses a frozen 1x1 conv for this; a broadcast add is the same map.
    """

    def __init__(self, mean: Sequence[float], sign: int):
        super().__init__()
        self.register_buffer("shift", sign * torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.shift.to(x.dtype)


class ResBlock(nn.Module):
    """conv-ReLU-conv, scaled by ``res_scale`` and added to the input (no batch norm)."""

    def __init__(self, width: int, res_scale: float = 1.0):
        super().__init__()
        self.body = nn.Sequential(_conv(width, width), nn.ReLU(inplace=True), _conv(width, width))
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) * self.res_scale


class Upsampler(nn.Sequential):
    """Sub-pixel convolution (Shi et al. 2016): x3 in one step, powers of two as x2 steps."""

    def __init__(self, scale: int, width: int):
        layers: list[nn.Module] = []
        if scale == 3:
            layers += [_conv(width, 9 * width), nn.PixelShuffle(3)]
        elif scale >= 2 and scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [_conv(width, 4 * width), nn.PixelShuffle(2)]
        else:
            raise ValueError(f"EDSR up-sampler supports scale 3 or a power of 2, got {scale}")
        super().__init__(*layers)


def _channel_mean(rgb_mean: Sequence[float], channels: int, rgb_range: float) -> list[float]:
    """Per-channel mean for the mean shift: ``rgb_mean`` for 3 channels, else its average."""
    if channels == len(rgb_mean):
        return [rgb_range * m for m in rgb_mean]
    return [rgb_range * sum(rgb_mean) / len(rgb_mean)] * channels


class EDSR(nn.Module):
    """EDSR super-resolution (or, with ``scale=1``, restoration) network.

    Args:
        in_channels, out_channels: image channels (1 gray, 3 color).
        scale: up-sampling factor: 1 (no up-sampler), 2, 3, 4 (two x2 steps) or 8.
        n_blocks, width: residual blocks and feature channels (baseline 16/64, paper 32/256).
        res_scale: residual scaling (0.1 for the wide model, which is unstable without it).
        rgb_mean: dataset mean subtracted at the input and added back at the output (DIV2K's);
            one-channel images use the mean of ``rgb_mean``.
        rgb_range: pixel range of the images (1.0 for [0, 1]).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale: int = 2,
        n_blocks: int = 16,
        width: int = 64,
        res_scale: float = 1.0,
        rgb_mean: Sequence[float] = DIV2K_RGB_MEAN,
        rgb_range: float = 1.0,
    ):
        super().__init__()
        scale = int(scale)
        if scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")
        self.scale = scale
        rgb_mean = tuple(float(m) for m in rgb_mean)
        self.sub_mean = MeanShift(_channel_mean(rgb_mean, in_channels, rgb_range), sign=-1)
        self.add_mean = MeanShift(_channel_mean(rgb_mean, out_channels, rgb_range), sign=+1)
        self.head = _conv(in_channels, width)
        self.body = nn.Sequential(
            *(ResBlock(width, res_scale) for _ in range(n_blocks)), _conv(width, width)
        )
        self.upsample = Upsampler(scale, width) if scale > 1 else nn.Identity()
        self.tail = _conv(width, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.sub_mean(x))
        x = x + self.body(x)
        return self.add_mean(self.tail(self.upsample(x)))
