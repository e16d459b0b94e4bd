"""The Lanczos downsampler that DIP's super-resolution puts after the generator.

Ulyanov et al., "Deep Image Prior", CVPR 2018, Sec. 4 (super-resolution): the data term is
``||d(f(z)) - x_LR||^2`` with ``d`` a Lanczos downsampler. This is ``models/downsampler.py`` of
the authors' repository (``get_kernel`` with ``kernel_type='lanczos'``, ``Downsampler``) with the
settings their notebook uses: ``lanczos2`` (support 2, width ``4 * factor + 1``) or ``lanczos3``
(support 3, width ``6 * factor + 1``), ``phase=0.5`` (an even kernel centred between pixels, so
that output pixel ``i`` covers input pixels ``[i * factor, (i + 1) * factor)``) and
``preserve_size=True`` (replicate padding so that an (H, W) input gives (H / factor, W / factor)).

Written here rather than taken from kornia/torchvision because neither ships this kernel (kornia
has Gaussian/box filters, torchvision resizes by interpolation) and the loss must use exactly this
operator to reproduce the paper. ``restore.degradations.resize.imresize(kernel="lanczos2")`` is
MATLAB's Lanczos, a different (support-normalised, edge-replicating per-tap) discretisation.
The kernel is separable, so it runs as two strided depthwise 1-D convolutions instead of the
original dense ``Conv2d(n_planes, n_planes)`` whose off-diagonal weights are zero.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

_SUPPORT = {"lanczos2": 2, "lanczos3": 3}


def lanczos_kernel_1d(factor: int, kernel_type: str = "lanczos2", phase: float = 0.5) -> np.ndarray:
    """The 1-D factor of the original ``get_kernel(factor, 'lanczos', phase, width, support)``.

    The original 2-D kernel is ``k[i, j] = g(d_i) g(d_j)`` normalised to sum 1, which equals the
    outer product of this 1-D kernel (normalised to sum 1) with itself.
    """
    if kernel_type not in _SUPPORT:
        raise ValueError(f"kernel_type must be one of {sorted(_SUPPORT)}, got {kernel_type!r}")
    if phase not in (0, 0.5):
        raise ValueError(f"phase must be 0 or 0.5, got {phase}")
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    support = _SUPPORT[kernel_type]
    width = 2 * support * factor + 1
    size = width - 1 if phase == 0.5 else width
    center = (width + 1) / 2.0
    i = np.arange(1, size + 1, dtype=np.float64)
    d = np.abs(i + phase - center) / factor
    with np.errstate(divide="ignore", invalid="ignore"):
        g = support * np.sin(np.pi * d) * np.sin(np.pi * d / support) / (np.pi**2 * d**2)
    g[d == 0] = 1.0
    return g / g.sum()


class LanczosDownsampler(nn.Module):
    """Downsample (B, C, H, W) by an integer ``factor`` with the DIP Lanczos kernel.

    With ``preserve_size`` an input whose H, W are multiples of ``factor`` gives
    ``(H // factor, W // factor)`` (in general :meth:`output_size`).
    Runs in the input's dtype; call it in float32 for an exact data term.
    """

    def __init__(
        self,
        factor: int,
        kernel_type: str = "lanczos2",
        phase: float = 0.5,
        preserve_size: bool = True,
    ):
        super().__init__()
        self.factor = int(factor)
        k = torch.from_numpy(lanczos_kernel_1d(self.factor, kernel_type, phase)).float()
        self.register_buffer("kernel", k, persistent=False)
        size = k.numel()
        if preserve_size:
            # As the original: (K - 1) / 2 each side for odd kernels, (K - factor) / 2 for even
            # ones. For an odd factor K - factor is odd and the original truncates it, losing an
            # output pixel; the extra pixel goes to the bottom/right here instead.
            total = size - 1 if size % 2 == 1 else size - self.factor
            self.pad = (total // 2, total - total // 2)
        else:
            self.pad = (0, 0)
        self.kernel_type, self.phase = kernel_type, phase

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        lo, hi = self.pad
        if lo or hi:
            x = F.pad(x, (lo, hi, lo, hi), mode="replicate")
        k = self.kernel.to(x.dtype)
        kw = k.view(1, 1, 1, -1).expand(c, 1, 1, -1)
        kh = k.view(1, 1, -1, 1).expand(c, 1, -1, 1)
        x = F.conv2d(x, kw, stride=(1, self.factor), groups=c)
        return F.conv2d(x, kh, stride=(self.factor, 1), groups=c)

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        k = self.kernel.numel()
        return tuple(math.floor((n + sum(self.pad) - k) / self.factor) + 1 for n in (h, w))

    def extra_repr(self) -> str:
        return f"factor={self.factor}, kernel_type={self.kernel_type!r}, phase={self.phase}"
