"""Poisson (shot) noise and the sequential composition of degradations (e.g. blur, then noise)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from restore.degradations.base import Degradation, Observation
from restore.degradations.noise_source import NoiseSource, TorchNoise


def poisson_inverse_cdf(rate: Tensor, u: Tensor) -> Tensor:
    """Poisson samples of ``rate`` from uniforms ``u`` by inverting the CDF, elementwise.

    Written out because the evaluation sources only provide uniform and normal draws (torch's
    sampler has its own generator): a sample is the smallest ``k`` with ``CDF(k) > u``, where
    ``CDF(k) = Q(k + 1, rate)`` (the regularized upper incomplete gamma function). It is found
    by bisection on ``[0, rate + 10 sqrt(rate) + 10]`` (the tail beyond is below 1e-20), in
    float64: ``log2`` of that many evaluations of ``Q`` per element.
    """
    rate, u = rate.double(), u.double()
    lo = torch.full_like(rate, -1.0)  # CDF(lo) <= u (CDF(-1) = 0)
    hi = (rate + 10 * rate.sqrt() + 10).ceil()  # CDF(hi) > u
    steps = math.ceil(math.log2(float(hi.max()) + 2)) if rate.numel() else 0
    for _ in range(steps):
        mid = ((lo + hi) / 2).floor()
        above = torch.special.gammaincc(mid + 1, rate) > u
        hi = torch.where(above, mid, hi)
        lo = torch.where(above, lo, mid)
    return hi


class PoissonNoise(Degradation):
    """Shot noise: ``y = Poisson(peak * x) / peak``; ``peak`` is the photon count of white.

    Lower peaks are noisier (peak 1-4: very low light; 30-60: dim indoor light), as in the Poisson
    denoising benchmarks of Makitalo & Foi (TIP 2011) and Zhang et al. (DnCNN/FFDNet follow-ups).
    A blind ``peak_range`` draws one peak per image, uniformly.
    """

    def __init__(
        self,
        peak: float | None = 30.0,
        peak_range: Sequence[float] | None = None,
        clip: bool = False,
    ):
        super().__init__(clip)
        if (peak is None) == (peak_range is None):
            raise ValueError("PoissonNoise needs exactly one of noise.peak or noise.peak_range")
        if peak is not None and peak <= 0:
            raise ValueError(f"noise.peak must be positive, got {peak}")
        if peak_range is not None:
            lo, hi = (float(v) for v in peak_range)
            if not 0 < lo <= hi:
                raise ValueError(
                    f"noise.peak_range must be [low, high], 0 < low <= high: {peak_range}"
                )
            peak_range = (lo, hi)
        self.peak = float(peak) if peak is not None else None
        self.peak_range = peak_range

    def degrade(self, x: Tensor, source: NoiseSource) -> Tensor:
        if self.peak_range is not None:
            peak = source.per_image(x, *self.peak_range).double()
        else:
            peak = torch.tensor(self.peak, dtype=torch.float64, device=x.device)
        rate = x.double().clamp(min=0) * peak
        if isinstance(source, TorchNoise):  # training: torch's batched sampler
            counts = torch.poisson(rate.float(), generator=source.generator).double()
        else:  # reproducible evaluation: from the source's per-image uniforms
            counts = poisson_inverse_cdf(rate, source.uniform(rate))
        return (counts / peak).to(x.dtype)


class Compose(Degradation):
    """Apply degradations in order, e.g. ``[MotionBlur, GaussianNoise]``, from one source.

    With a seeded source each stage continues the same per-image random stream, so the whole
    chain is reproducible per image.
    """

    def __init__(self, stages: Iterable[Degradation], clip: bool = False):
        super().__init__(clip)
        self.stages = nn.ModuleList(list(stages))
        if not self.stages:
            raise ValueError("noise.stages is empty: list the degradations to apply in order")

    @property
    def scale(self) -> int:  # type: ignore[override]
        return math.prod(stage.scale for stage in self.stages)

    def observe(self, x: Tensor, source: NoiseSource | None = None) -> Observation:
        """Each stage observes the previous stage's output; masks, scales and operators chain
        (see :meth:`Observation.then`), the noisiest stage's data term wins."""
        source = source or TorchNoise()
        obs = self.stages[0].observe(x, source)
        for stage in self.stages[1:]:
            obs = obs.then(stage.observe(obs.input, source))
        if self.clip:
            obs.input = obs.input.clamp(0, 1)
        return obs
