"""FFDNet (Zhang, Zuo, Zhang: "FFDNet: Toward a Fast and Flexible Solution for CNN-Based Image
Denoising", IEEE TIP 2018).

The image is split into 4 half-resolution sub-images (pixel unshuffle by 2) and stacked with a
noise-level map; a DnCNN-like stack (conv+ReLU, conv+BN+ReLU, ..., conv) maps them to the 4 clean
sub-images, which are shuffled back. Working at half resolution costs a quarter of DnCNN's
operations per layer for a doubled receptive field: the point of the design on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.archs.utils import crop_to, pad_to_multiple


class FFDNet(nn.Module):
    """FFDNet with a fixed noise level ``sigma`` (0-255 scale) fed as the noise-level map.

    The paper's presets: gray 15 layers x 64 channels, color 12 layers x 96 channels. The map is
    constant here (non-blind training at the configured sigma); at test time another ``sigma`` can
    be set to trade detail for smoothness, as the paper describes.

    ``residual=True`` is DnCNN's residual learning applied to FFDNet: the stack predicts the
    noise of the sub-images and the output is ``x - noise`` (the paper's FFDNet predicts the clean
    sub-images), with the output layer started small so that the untrained network stays near its
    input. Neither variant learned as fast per unit of CPU time as DnCNN in the 30-minute budget
    study (experiments/dncnn_cpu_budget/README.md).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int | None = None,
        depth: int | None = None,
        width: int | None = None,
        sigma: float = 25.0,
        batch_norm: bool = True,
        residual: bool = False,
    ):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        color = in_channels == 3
        depth = depth if depth is not None else (12 if color else 15)
        width = width if width is not None else (96 if color else 64)
        if depth < 2:
            raise ValueError(f"FFDNet depth must be >= 2, got {depth}")
        layers: list[nn.Module] = [
            nn.Conv2d(4 * in_channels + 1, width, 3, padding=1),
            nn.ReLU(True),
        ]
        for _ in range(depth - 2):
            layers.append(nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(width, 4 * out_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.sigma = float(sigma)
        self.residual = residual
        if residual and out_channels != in_channels:
            raise ValueError("FFDNet residual=True needs out_channels == in_channels")
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if residual:
            # as in DnCNN: a small initial noise estimate, so the untrained net is near identity
            self.body[-1].weight.data.mul_(0.1)

    def forward(self, x: Tensor) -> Tensor:
        x_pad, size = pad_to_multiple(x, 2)
        sub = F.pixel_unshuffle(x_pad, 2)
        level = torch.full_like(sub[:, :1], self.sigma / 255.0)
        out = crop_to(F.pixel_shuffle(self.body(torch.cat([sub, level], dim=1)), 2), size)
        return x - out if self.residual else out
