"""BM3D (Dabov et al., TIP 2007) as a parameter-free "network": the classical row of denoising
tables, scored through the same ``restore.eval`` as every trained model and DIP.

The ``bm3d`` package (Mäkinen et al.'s reference implementation) does the filtering; this module
only moves tensors to it and back, image by image, on the CPU.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn


class BM3D(nn.Module):
    """Denoise each image of the batch with BM3D at the noise level ``sigma`` (0-255 scale).

    BM3D is told the noise's standard deviation; for noise without a ``sigma`` (uniform,
    salt-and-pepper) the config passes the level the other non-blind methods are told.
    Gray images use ``bm3d.bm3d``, colour ones ``bm3d.bm3d_rgb`` (its opponent colour transform).
    The input is not clipped (the published protocol feeds BM3D the unclipped noisy image).

    >>> net = BM3D(sigma=25, in_channels=1)
    >>> net(torch.full((2, 1, 16, 16), 0.5)).shape
    torch.Size([2, 1, 16, 16])
    """

    # the reference implementation crashes the interpreter (segfault) on images below this side
    MIN_SIDE = 16

    def __init__(self, sigma: float = 25.0, in_channels: int = 1, out_channels: int | None = None):
        super().__init__()
        if sigma <= 0:
            raise ValueError(f"model.sigma must be a positive noise level (0-255), got {sigma}")
        if in_channels not in (1, 3) or (out_channels is not None and out_channels != in_channels):
            raise ValueError(
                f"BM3D denoises gray or RGB images in place: in_channels=1 or 3 and "
                f"out_channels equal, got {in_channels} -> {out_channels}"
            )
        self.sigma = float(sigma)
        self.channels = in_channels

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] != self.channels:
            raise ValueError(f"BM3D was built for {self.channels} channels, got {x.shape[1]}")
        if min(x.shape[-2:]) < self.MIN_SIDE:
            raise ValueError(
                f"BM3D needs images of at least {self.MIN_SIDE}x{self.MIN_SIDE} pixels, got "
                f"{tuple(x.shape[-2:])}: use a larger data.test_crop"
            )
        try:  # a dev extra: `pip install bm3d` (the reference implementation)
            import bm3d
        except ImportError as err:
            raise ImportError("model=bm3d needs the bm3d package: pip install bm3d") from err
        images = x.detach().float().cpu().numpy().astype(np.float64)
        out = np.empty_like(images)
        level = self.sigma / 255.0
        for i, image in enumerate(images):
            if self.channels == 1:
                out[i, 0] = bm3d.bm3d(image[0], sigma_psd=level)
            else:
                out[i] = bm3d.bm3d_rgb(image.transpose(1, 2, 0), level).transpose(2, 0, 1)
        return torch.from_numpy(out).to(x.device, torch.float32)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}, channels={self.channels}"
