"""NAFNet: a U-Net of activation-free blocks.

Chen, Chu, Zhang & Sun, "Simple Baselines for Image Restoration", ECCV 2022. Every block is two
residual halves on a per-pixel LayerNorm: (1x1 conv to twice the width, 3x3 depthwise conv,
*SimpleGate* (the two halves of the channels multiplied), simplified channel attention (global
average pool, 1x1 conv, a channel-wise product), 1x1 conv) and a gated feed-forward (1x1 conv,
SimpleGate, 1x1 conv); each half is scaled by a learned per-channel factor that starts at zero,
so a new block starts as the identity. No activation function anywhere. 2x2 strided convolutions
down, a 1x1 convolution and a pixel shuffle up, skips added; the output is added to the input.

The paper's test-time local converter (TLC, for the gap between the channel attention's
training-patch and whole-image statistics) is not implemented.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from restore.archs.utils import crop_to, pad_to_multiple


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of every pixel of a (B, C, H, W) tensor.

    ``nn.LayerNorm`` normalises the last dimension; on a channels_last tensor the permute to
    (B, H, W, C) is free, so this is one library call.
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def simple_gate(x: Tensor) -> Tensor:
    """The product of the two halves of the channels (NAFNet's replacement for GELU)."""
    a, b = x.chunk(2, dim=1)
    return a * b


class NAFBlock(nn.Module):
    """One NAFNet block of ``channels`` channels (Fig. 3c of the paper)."""

    def __init__(self, channels: int, expand: int = 2):
        super().__init__()
        c, e = channels, channels * expand
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, e, 1)
        self.depthwise = nn.Conv2d(e, e, 3, padding=1, groups=e)
        self.attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(e // 2, e // 2, 1))
        self.conv2 = nn.Conv2d(e // 2, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.ffn1 = nn.Conv2d(c, e, 1)
        self.ffn2 = nn.Conv2d(e // 2, c, 1)
        self.beta = nn.Parameter(torch.zeros(c))
        self.gamma = nn.Parameter(torch.zeros(c))

    def forward(self, x: Tensor) -> Tensor:
        h = simple_gate(self.depthwise(self.conv1(self.norm1(x))))
        h = self.conv2(h * self.attention(h))
        y = x + h * self.beta.view(1, -1, 1, 1)
        h = self.ffn2(simple_gate(self.ffn1(self.norm2(y))))
        return y + h * self.gamma.view(1, -1, 1, 1)


def _blocks(channels: int, n: int) -> nn.Sequential:
    return nn.Sequential(*(NAFBlock(channels) for _ in range(n)))


class NAFNet(nn.Module):
    """NAFNet restoration network (global residual: it predicts the correction of its input).

    Args:
        in_channels, out_channels: image channels (1 gray, 3 color); the residual is added when
            they match.
        width: channels of the first scale; each scale down doubles them.
        encoder_blocks: blocks at each scale on the way down (one scale per entry).
        middle_blocks: blocks at the lowest scale.
        decoder_blocks: blocks at each scale on the way up (as many entries as the encoder,
            highest scale last).

    >>> net = NAFNet(1, 1, width=8, encoder_blocks=[1, 1], middle_blocks=1, decoder_blocks=[1, 1])
    >>> net(torch.rand(2, 1, 37, 45)).shape
    torch.Size([2, 1, 37, 45])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 32,
        encoder_blocks: Sequence[int] = (2, 2, 4, 8),
        middle_blocks: int = 12,
        decoder_blocks: Sequence[int] = (2, 2, 2, 2),
    ):
        super().__init__()
        encoder_blocks, decoder_blocks = list(encoder_blocks), list(decoder_blocks)
        if len(encoder_blocks) != len(decoder_blocks):
            raise ValueError(
                f"encoder_blocks {encoder_blocks} and decoder_blocks {decoder_blocks} must have "
                "one entry per scale each"
            )
        if width < 1 or min([middle_blocks, *encoder_blocks, *decoder_blocks]) < 0:
            raise ValueError("width must be >= 1 and every block count >= 0")
        self.residual = in_channels == out_channels
        self.multiple = 2 ** len(encoder_blocks)
        self.intro = nn.Conv2d(in_channels, width, 3, padding=1)
        self.encoders, self.downs = nn.ModuleList(), nn.ModuleList()
        c = width
        for n in encoder_blocks:
            self.encoders.append(_blocks(c, n))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, 2))
            c *= 2
        self.middle = _blocks(c, middle_blocks)
        self.ups, self.decoders = nn.ModuleList(), nn.ModuleList()
        for n in decoder_blocks:
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(_blocks(c, n))
        self.ending = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        xp, size = pad_to_multiple(x, self.multiple)
        h = self.intro(xp)
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            h = encoder(h)
            skips.append(h)
            h = down(h)
        h = self.middle(h)
        for up, decoder in zip(self.ups, self.decoders, strict=True):
            h = decoder(up(h) + skips.pop())
        out = crop_to(self.ending(h), size)
        return x + out if self.residual else out


__all__ = ["LayerNorm2d", "NAFBlock", "NAFNet", "simple_gate"]
