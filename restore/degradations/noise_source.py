"""Where degradations draw their randomness from.

Training draws from torch's global generator on the batch's device (fast, batched). Validation and
test draw from ``numpy.random.RandomState(seed)`` per image, in HWC order, as the published
denoising protocol does (see ``../shared/datasets/README.md``): every model and every run is then
scored on identical degraded inputs, whatever the device, batch size or precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


class NoiseSource:
    """Random draws shaped like a batch ``(B, C, H, W)``; subclasses choose the generator."""

    def normal(self, like: Tensor) -> Tensor:  # standard normal, shaped like ``like``
        raise NotImplementedError

    def uniform(self, like: Tensor) -> Tensor:  # U[0, 1), shaped like ``like``
        raise NotImplementedError

    def per_image(self, like: Tensor, low: float, high: float) -> Tensor:
        """One U[low, high) value per image, shaped (B, 1, 1, 1) for broadcasting."""
        raise NotImplementedError


class TorchNoise(NoiseSource):
    """Batched draws from torch's generator on the tensor's own device (training)."""

    def __init__(self, generator: torch.Generator | None = None):
        self.generator = generator

    def normal(self, like: Tensor) -> Tensor:
        return torch.randn(
            like.shape, generator=self.generator, device=like.device, dtype=like.dtype
        )

    def uniform(self, like: Tensor) -> Tensor:
        return torch.rand(
            like.shape, generator=self.generator, device=like.device, dtype=like.dtype
        )

    def per_image(self, like: Tensor, low: float, high: float) -> Tensor:
        u = torch.rand((like.shape[0], 1, 1, 1), generator=self.generator, device=like.device)
        return (low + (high - low) * u).to(like.dtype)


class SeededNoise(NoiseSource):
    """Per-image ``RandomState(seed)`` draws in HWC order (the published test protocol)."""

    def __init__(self, seeds: Sequence[int]):
        self.states = [np.random.RandomState(int(s)) for s in seeds]

    def _draw(self, like: Tensor, fn) -> Tensor:
        b, c, h, w = like.shape
        if b != len(self.states):
            raise ValueError(f"batch of {b} images but {len(self.states)} seeds")
        arrays = [fn(rs, (h, w, c)).transpose(2, 0, 1) for rs in self.states]
        return torch.from_numpy(np.stack(arrays)).to(device=like.device, dtype=like.dtype)

    def normal(self, like: Tensor) -> Tensor:
        return self._draw(like, lambda rs, shape: rs.standard_normal(shape))

    def uniform(self, like: Tensor) -> Tensor:
        return self._draw(like, lambda rs, shape: rs.random_sample(shape))

    def per_image(self, like: Tensor, low: float, high: float) -> Tensor:
        values = [rs.uniform(low, high) for rs in self.states]
        return torch.tensor(values, device=like.device, dtype=like.dtype).view(-1, 1, 1, 1)
