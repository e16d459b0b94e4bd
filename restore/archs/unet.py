"""U-Net for image restoration.

Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation",
MICCAI 2015. Double 3x3 conv blocks, 2x2 max-pool down-sampling, skip concatenation, channels
doubling per level. Unlike the original (valid convolutions, cropped skips) the convolutions are
zero-padded so the output has the input's size; a global residual turns it into a restoration
network that predicts the correction to its input.
"""

from typing import Literal

import torch
from torch import Tensor, nn

from restore.archs.utils import crop_to, group_norm, pad_to_multiple

Norm = Literal["batch", "instance", "group"] | None
Upsample = Literal["transpose", "bilinear", "nearest"]


def _norm(kind: Norm, channels: int) -> nn.Module:
    if kind is None:
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        return group_norm(channels)
    raise ValueError(f"norm must be 'batch', 'instance', 'group' or None, got {kind!r}")


class DoubleConv(nn.Sequential):
    """(conv 3x3 -> norm -> ReLU) x 2. Convs before a norm have no bias (the norm removes it)."""

    def __init__(self, in_channels: int, out_channels: int, norm: Norm = "batch"):
        bias = norm is None
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias),
            _norm(norm, out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=bias),
            _norm(norm, out_channels),
            nn.ReLU(inplace=True),
        )


def _up(in_channels: int, out_channels: int, mode: Upsample) -> nn.Module:
    """x2 up-sampling that also halves the channels ("up-convolution" of the paper)."""
    if mode == "transpose":
        return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
    if mode in ("bilinear", "nearest"):
        align = False if mode == "bilinear" else None
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode=mode, align_corners=align),
            nn.Conv2d(in_channels, out_channels, kernel_size=1),
        )
    raise ValueError(f"upsample must be 'transpose', 'bilinear' or 'nearest', got {mode!r}")


class UNet(nn.Module):
    """U-Net restoration network.

    Args:
        in_channels, out_channels: image channels (1 gray, 3 color).
        depth: number of 2x down-sampling steps; the input is padded to a multiple of 2**depth.
        width: channels of the first level; level ``i`` has ``width * 2**i``.
        norm: normalisation after every conv: "batch", "instance", "group" or None.
        upsample: "transpose" (learned 2x2 transposed conv) or "bilinear"/"nearest" + 1x1 conv.
        residual: add the input to the output (global residual learning). Only possible, and
            only applied, when ``in_channels == out_channels``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        depth: int = 4,
        width: int = 32,
        norm: Norm = "batch",
        upsample: Upsample = "transpose",
        residual: bool = True,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.depth = depth
        self.residual = residual and in_channels == out_channels
        chans = [width * 2**i for i in range(depth + 1)]
        self.inc = DoubleConv(in_channels, chans[0], norm)
        self.down = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(chans[i], chans[i + 1], norm))
            for i in range(depth)
        )
        self.up = nn.ModuleList(_up(chans[i + 1], chans[i], upsample) for i in range(depth))
        self.dec = nn.ModuleList(DoubleConv(2 * chans[i], chans[i], norm) for i in range(depth))
        self.outc = nn.Conv2d(chans[0], out_channels, kernel_size=1)
        if self.residual:
            # Start near the identity map: the residual branch's last layer is initialised 0.1x
            # smaller (as ESRGAN, Wang et al. 2018, does for its residual blocks). Not zero, which
            # would cut off the gradient of every other layer at the first step.
            with torch.no_grad():
                self.outc.weight.mul_(0.1)
                self.outc.bias.mul_(0.1)

    def forward(self, x: Tensor) -> Tensor:
        xp, size = pad_to_multiple(x, 2**self.depth)
        skips = [self.inc(xp)]
        for down in self.down:
            skips.append(down(skips[-1]))
        h = skips.pop()
        for i in reversed(range(self.depth)):
            h = self.dec[i](torch.cat([skips.pop(), self.up[i](h)], dim=1))
        out = crop_to(self.outc(h), size)
        return x + out if self.residual else out
