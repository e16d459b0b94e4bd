"""Noise degradations (the ``noise`` config group). Noise levels are given on the 0-255 scale."""

from __future__ import annotations

from torch import Tensor, nn

from restore.degradations.noise_source import NoiseSource, TorchNoise


class Degradation(nn.Module):
    """A degradation operator ``y = D(x)`` applied to a clean batch on its device.

    ``forward(x, source)`` draws its randomness from ``source`` (``TorchNoise`` when omitted).
    ``clip`` clamps the degraded image to [0, 1]; the published Gaussian protocol does not clip.
    """

    def __init__(self, clip: bool = False):
        super().__init__()
        self.clip = clip

    def degrade(self, x: Tensor, source: NoiseSource) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, source: NoiseSource | None = None) -> Tensor:
        y = self.degrade(x, source or TorchNoise())
        return y.clamp(0, 1) if self.clip else y


class GaussianNoise(Degradation):
    """Additive white Gaussian noise: a fixed ``sigma``, or blind (``sigma_range`` per image)."""

    def __init__(
        self,
        sigma: float | None = 25.0,
        sigma_range: tuple[float, float] | None = None,
        clip: bool = False,
    ):
        super().__init__(clip)
        if (sigma is None) == (sigma_range is None):
            raise ValueError("GaussianNoise needs exactly one of noise.sigma or noise.sigma_range")
        if sigma_range is not None:
            lo, hi = (float(v) for v in sigma_range)
            if not 0 <= lo <= hi:
                raise ValueError(
                    f"noise.sigma_range must be [low, high], 0 <= low <= high; got {sigma_range}"
                )
            sigma_range = (lo, hi)
        self.sigma = sigma
        self.sigma_range = sigma_range

    def degrade(self, x: Tensor, source: NoiseSource) -> Tensor:
        if self.sigma_range is not None:
            sigma = source.per_image(x, *self.sigma_range) / 255.0
        else:
            sigma = self.sigma / 255.0
        return x + sigma * source.normal(x)


class UniformNoise(Degradation):
    """Additive noise drawn uniformly from ``[low, high]`` (0-255 scale)."""

    def __init__(self, low: float = -25.0, high: float = 25.0, clip: bool = False):
        super().__init__(clip)
        if not low < high:
            raise ValueError(f"noise.low must be below noise.high, got [{low}, {high}]")
        self.low, self.high = float(low), float(high)

    def degrade(self, x: Tensor, source: NoiseSource) -> Tensor:
        u = source.uniform(x)
        return x + (self.low + (self.high - self.low) * u) / 255.0


class SaltPepperNoise(Degradation):
    """Impulse noise: a fraction ``density`` of values replaced, ``salt_ratio`` of them by 1."""

    def __init__(self, density: float = 0.1, salt_ratio: float = 0.5):
        super().__init__(clip=False)
        if not 0 <= density <= 1 or not 0 <= salt_ratio <= 1:
            raise ValueError("noise.density and noise.salt_ratio must lie in [0, 1]")
        self.density, self.salt_ratio = float(density), float(salt_ratio)

    def degrade(self, x: Tensor, source: NoiseSource) -> Tensor:
        u = source.uniform(x)
        salt = u < self.density * self.salt_ratio
        pepper = (u >= self.density * self.salt_ratio) & (u < self.density)
        return x.masked_fill(salt, 1.0).masked_fill(pepper, 0.0)
