"""Blur degradations (the ``noise`` group's ``blur_*`` options): Gaussian and linear motion blur.

Kernels come from kornia (``gaussian_blur2d``; ``get_motion_kernel2d``, whose line kernels are the
uniform motion blur of e.g. Sun et al., "Learning a Convolutional Neural Network for Non-uniform
Motion Blur Removal", CVPR 2015) and are applied with reflected borders. Kernel parameters are
drawn per image from the ``NoiseSource``: batched torch draws in training, ``RandomState(seed)``
per image in validation and test, so the evaluation blur is the same for every run and batch size.

By default the blurred image is rounded to 8-bit levels (``quantize``), as a blurred photograph
is stored (GoPro, Köhler et al. 2012): a network trained on noiseless float blur learns an exact
inverse filter that amplifies the rounding noise of every real input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import kornia.filters as KF
import torch
from torch import Tensor

from restore.degradations.base import Degradation, Observation
from restore.degradations.noise_source import NoiseSource, TorchNoise
from restore.imaging import quantize as quantize_8bit


def _range(values: Sequence[float], name: str, low: float = 0.0) -> tuple[float, float]:
    lo, hi = (float(v) for v in values)
    if not low <= lo <= hi:
        raise ValueError(
            f"noise.{name} must be [low, high] with {low} <= low <= high, got {values}"
        )
    return lo, hi


def _check_border(x: Tensor, kernel_size: int) -> None:
    if kernel_size // 2 >= min(x.shape[-2:]):
        raise ValueError(
            f"blur kernel of {kernel_size} pixels is too large for a {tuple(x.shape[-2:])} image: "
            "lower the blur size or use larger patches"
        )


class _Blur(Degradation):
    """Shared by the blurs: draw one blur per image, apply it, round to 8 bits."""

    quantize: bool

    def operator(self, like: Tensor, source: NoiseSource) -> Callable[[Tensor], Tensor]:
        """The blur drawn for each image of ``like``, as a differentiable function."""
        raise NotImplementedError

    def observe(self, x: Tensor, source: NoiseSource | None = None) -> Observation:
        """The blurred image, and the drawn blur as the known operator."""
        blur = self.operator(x, source or TorchNoise())
        y = blur(x)
        y = quantize_8bit(y) if self.quantize else y
        return Observation(y.clamp(0, 1) if self.clip else y, operator=blur)


class GaussianBlur(_Blur):
    """Isotropic Gaussian blur: a fixed ``sigma`` or, blind, ``sigma_range`` drawn per image.

    ``kernel_size`` defaults to ``2 * ceil(3 * sigma_max) + 1`` (three standard deviations).
    """

    def __init__(
        self,
        sigma: float | None = 2.0,
        sigma_range: Sequence[float] | None = None,
        kernel_size: int | None = None,
        quantize: bool = True,
        clip: bool = False,
    ):
        super().__init__(clip)
        if (sigma is None) == (sigma_range is None):
            raise ValueError("GaussianBlur needs exactly one of noise.sigma or noise.sigma_range")
        self.sigma = float(sigma) if sigma is not None else None
        self.sigma_range = _range(sigma_range, "sigma_range", 1e-3) if sigma_range else None
        if self.sigma is not None and self.sigma <= 0:
            raise ValueError(f"noise.sigma must be positive, got {sigma}")
        top = self.sigma if self.sigma is not None else self.sigma_range[1]
        self.kernel_size = int(kernel_size) if kernel_size else 2 * math.ceil(3 * top) + 1
        if self.kernel_size % 2 == 0 or self.kernel_size < 3:
            raise ValueError(f"noise.kernel_size must be odd and >= 3, got {kernel_size}")
        self.quantize = quantize

    def sigmas(self, like: Tensor, source: NoiseSource) -> Tensor:
        """(B,) standard deviations in pixels, one per image."""
        if self.sigma_range is not None:
            return source.per_image(like, *self.sigma_range).view(-1).float()
        return torch.full((like.shape[0],), self.sigma, device=like.device)

    def operator(self, like: Tensor, source: NoiseSource) -> Callable[[Tensor], Tensor]:
        _check_border(like, self.kernel_size)
        sigma = self.sigmas(like, source)[:, None].expand(-1, 2)
        k = self.kernel_size

        def blur(x: Tensor) -> Tensor:
            return KF.gaussian_blur2d(x, (k, k), sigma.to(x), border_type="reflect")

        return blur


class MotionBlur(_Blur):
    """Linear motion blur with a random length, angle and direction per image.

    Args:
        length_range: odd kernel sizes (in pixels) drawn uniformly among the odd values of
            ``[low, high]``; both ends odd and >= 3.
        angle_range: motion angle in degrees (counter-clockwise), drawn uniformly.
        direction_range: weighting along the line in [-1, 1]: 0 uniform (constant-speed motion),
            +-1 linearly fading to one end (accelerating motion); drawn uniformly.
        mode: kernel rotation interpolation, "bilinear" (smooth) or "nearest" (kornia).
        quantize: round the blurred image to 8-bit levels.
    """

    def __init__(
        self,
        length_range: Sequence[int] = (5, 15),
        angle_range: Sequence[float] = (0.0, 360.0),
        direction_range: Sequence[float] = (0.0, 0.0),
        mode: str = "bilinear",
        quantize: bool = True,
        clip: bool = False,
    ):
        super().__init__(clip)
        lo, hi = (int(v) for v in length_range)
        if lo < 3 or lo % 2 == 0 or hi % 2 == 0 or hi < lo:
            raise ValueError(
                f"noise.length_range must be two odd kernel sizes 3 <= low <= high, got "
                f"{list(length_range)}"
            )
        self.length_range = (lo, hi)
        self.angle_range = (float(angle_range[0]), float(angle_range[1]))
        d_lo, d_hi = (float(v) for v in direction_range)
        if not -1 <= d_lo <= d_hi <= 1:
            raise ValueError(f"noise.direction_range must lie in [-1, 1], got {direction_range}")
        self.direction_range = (d_lo, d_hi)
        if mode not in ("bilinear", "nearest"):
            raise ValueError(f"noise.mode must be 'bilinear' or 'nearest', got {mode!r}")
        self.mode = mode
        self.quantize = quantize

    def kernels(self, like: Tensor, source: NoiseSource) -> Tensor:
        """(B, K, K) motion kernels, each summing to 1, zero-padded to the largest size K.

        Draws, per image and in this order: the length, the angle, the direction.
        """
        lo, hi = self.length_range
        n_lengths = (hi - lo) // 2 + 1
        u = source.per_image(like, 0.0, 1.0).view(-1).float().cpu()
        lengths = [lo + 2 * min(int(v * n_lengths), n_lengths - 1) for v in u.tolist()]
        angles = source.per_image(like, *self.angle_range).view(-1).float().cpu()
        directions = source.per_image(like, *self.direction_range).view(-1).float().cpu()
        size = max(lengths)
        out = torch.zeros(len(lengths), size, size)
        for i, length in enumerate(lengths):
            k = KF.get_motion_kernel2d(length, angles[i : i + 1], directions[i : i + 1], self.mode)
            pad = (size - length) // 2
            out[i, pad : pad + length, pad : pad + length] = k[0]
        return out.to(device=like.device, dtype=like.dtype)

    def operator(self, like: Tensor, source: NoiseSource) -> Callable[[Tensor], Tensor]:
        kernels = self.kernels(like, source)
        _check_border(like, kernels.shape[-1])

        def blur(x: Tensor) -> Tensor:
            return KF.filter2d(x, kernels.to(x), border_type="reflect")

        return blur
