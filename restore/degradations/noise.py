"""Noise degradations (the ``noise`` config group). Noise levels are given on the 0-255 scale."""

from __future__ import annotations

from torch import Tensor

from restore.degradations.base import Degradation, set_data_fit
from restore.degradations.noise_source import NoiseSource

__all__ = ["Degradation", "GaussianNoise", "SaltPepperNoise", "UniformNoise"]


class GaussianNoise(Degradation):
    """Additive white Gaussian noise: a fixed ``sigma``, or blind (``sigma_range`` per image)."""

    def __init__(
        self,
        sigma: float | None = 25.0,
        sigma_range: tuple[float, float] | None = None,
        clip: bool = False,
        data_fit: str | None = None,
    ):
        super().__init__(clip)
        set_data_fit(self, data_fit)
        if sigma is not None and sigma < 0:
            raise ValueError(f"noise.sigma must be >= 0 (0-255 scale), got {sigma}")
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

    def __init__(
        self,
        low: float = -25.0,
        high: float = 25.0,
        clip: bool = False,
        data_fit: str | None = None,
    ):
        super().__init__(clip)
        set_data_fit(self, data_fit)
        if not low < high:
            raise ValueError(f"noise.low must be below noise.high, got [{low}, {high}]")
        self.low, self.high = float(low), float(high)

    def degrade(self, x: Tensor, source: NoiseSource) -> Tensor:
        u = source.uniform(x)
        return x + (self.low + (self.high - self.low) * u) / 255.0


class SaltPepperNoise(Degradation):
    """Impulse noise: a fraction ``density`` of values replaced, ``salt_ratio`` of them by 1.

    Its data term is L1 by default: the outliers are far from the clean values, so a squared
    error lets them dominate the fit, while the L1 (the likelihood of heavy-tailed noise, the
    median's loss) leaves them little pull.
    """

    data_fit = "l1"

    def __init__(self, density: float = 0.1, salt_ratio: float = 0.5, data_fit: str | None = None):
        super().__init__(clip=False)
        set_data_fit(self, data_fit)
        if not 0 <= density <= 1 or not 0 <= salt_ratio <= 1:
            raise ValueError("noise.density and noise.salt_ratio must lie in [0, 1]")
        self.density, self.salt_ratio = float(density), float(salt_ratio)

    def degrade(self, x: Tensor, source: NoiseSource) -> Tensor:
        u = source.uniform(x)
        salt = u < self.density * self.salt_ratio
        pepper = (u >= self.density * self.salt_ratio) & (u < self.density)
        return x.masked_fill(salt, 1.0).masked_fill(pepper, 0.0)
