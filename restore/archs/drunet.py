"""DRUNet: a residual U-Net denoiser.

Zhang, Li, Zuo, Zhang, Van Gool & Timofte, "Plug-and-Play Image Restoration with Deep Denoiser
Prior", TPAMI 2021. Four scales; each holds ``blocks`` residual blocks (conv 3x3 -> ReLU ->
conv 3x3, plus the identity), with no normalisation and no biases; 2x2 strided convolutions
down, 2x2 transposed convolutions up, and skips *added* to the decoder's input instead of
concatenated (so the decoder's convolutions keep the encoder's width). The published network
has widths 64-128-256-512, 4 blocks a scale and a noise-level map as an extra input channel;
here all three are arguments.
"""

import torch
from torch import Tensor, nn

from restore.archs.utils import crop_to, pad_to_multiple


class ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))``, 3x3 convolutions without bias (as DRUNet)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _blocks(channels: int, n: int) -> nn.Sequential:
    return nn.Sequential(*(ResBlock(channels) for _ in range(n)))


class DRUNet(nn.Module):
    """DRUNet restoration network.

    Args:
        in_channels, out_channels: image channels (1 gray, 3 color).
        width: channels of the first scale; scale ``i`` has ``width * 2**i`` (4 scales).
        blocks: residual blocks per scale, in the encoder, the bottleneck and the decoder.
        sigma: the noise level (0-255) of the constant noise-level map given as an extra input
            channel, as the paper's non-blind use; None: no map (a single-noise-level denoiser).
        residual: add the input to the output (global residual learning, as DnCNN). The paper
            predicts the clean image (False). Only applied when ``in_channels == out_channels``.

    >>> net = DRUNet(1, 1, width=8, blocks=1)
    >>> net(torch.rand(2, 1, 37, 45)).shape
    torch.Size([2, 1, 37, 45])
    """

    scales = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 64,
        blocks: int = 4,
        sigma: float | None = None,
        residual: bool = False,
    ):
        super().__init__()
        if blocks < 0 or width < 1:
            raise ValueError(f"width must be >= 1 and blocks >= 0, got {width} and {blocks}")
        self.sigma = sigma
        self.residual = residual and in_channels == out_channels
        c = [width * 2**i for i in range(self.scales)]
        self.head = nn.Conv2d(in_channels + (sigma is not None), c[0], 3, padding=1, bias=False)
        self.down = nn.ModuleList(
            nn.Sequential(_blocks(c[i], blocks), nn.Conv2d(c[i], c[i + 1], 2, 2, bias=False))
            for i in range(self.scales - 1)
        )
        self.body = _blocks(c[-1], blocks)
        self.up = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(c[i + 1], c[i], 2, 2, bias=False), _blocks(c[i], blocks)
            )
            for i in range(self.scales - 1)
        )
        self.tail = nn.Conv2d(c[0], out_channels, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        xp, size = pad_to_multiple(x, 2 ** (self.scales - 1))
        if self.sigma is not None:
            level = xp.new_full((xp.shape[0], 1, *xp.shape[-2:]), self.sigma / 255)
            xp = torch.cat([xp, level], dim=1)
        skips = [self.head(xp)]
        for down in self.down:
            skips.append(down(skips[-1]))
        h = self.body(skips[-1])  # the bottleneck's input is also its skip (as the paper)
        for i in reversed(range(self.scales - 1)):
            h = self.up[i](h + skips.pop())
        out = crop_to(self.tail(h + skips.pop()), size)
        return x + out if self.residual else out
