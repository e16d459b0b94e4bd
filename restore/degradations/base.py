"""The forward model every degradation implements: a clean batch in, an :class:`Observation` out.

A degradation (a member of the ``noise`` config group) is the whole forward model
``y = N(A(x))``: ``A`` a known operator where there is one (a mask, a downsampler, a blur kernel;
the identity for pure noise) and ``N`` the noise. :meth:`Degradation.observe` returns the
degraded input together with what a method must know about it: the mask, the scale, the operator
``A`` (differentiable, for methods that fit it, such as Deep Image Prior's data term) and the
data-fit term that suits the noise. Trained models only read ``Observation.input`` (inpainting
models also read the mask); image-prior methods read all of it.

Randomness comes from a :class:`~restore.degradations.noise_source.NoiseSource`: torch's
generator in training, ``RandomState(seed)`` per image in validation and test (the published
protocol). Operators that differ between training and evaluation (the uint8 rounding of the
bicubic downsampler) follow the module's ``training`` flag, which the task sets.

Adding a degradation: subclass :class:`Degradation`, implement ``degrade`` (and, when part of it
is a known operator, ``observe``), write one YAML in ``conf/noise/``. ``tests/degradations/
test_contract.py`` then checks it against the contract every member obeys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from torch import Tensor, nn

from restore.degradations.noise_source import NoiseSource, TorchNoise

DATA_FITS = ("l2", "l1")

Operator = Callable[[Tensor], Tensor]


def identity(x: Tensor) -> Tensor:
    return x


@dataclass
class Observation:
    """A degraded batch and what is known about how it was made.

    Attributes:
        input: the degraded images (B, C, h, w), what a restoration method receives.
        mask: (B, 1, H, W), 1 where a pixel was observed, 0 in the holes; None without holes.
        scale: size of the clean image / size of ``input`` (super-resolution); 1 otherwise.
        operator: the known, differentiable part ``A`` of the forward model, mapping an image of
            the clean size to the noiseless observation (identity for pure noise).
        data_fit: the data term that suits the noise, "l2" (Gaussian-like) or "l1" (impulse
            noise, heavy tails): what Deep Image Prior minimises between ``A(x)`` and ``input``.
        linear: whether ``operator`` is the exact forward map (False where it is only
            approximated, e.g. JPEG compression taken as the identity).
    """

    input: Tensor
    mask: Tensor | None = None
    scale: int = 1
    operator: Operator = field(default=identity, repr=False)
    data_fit: str = "l2"
    linear: bool = True

    def then(self, later: Observation) -> Observation:
        """This observation degraded further by ``later`` (made from ``self.input``)."""
        first, second = self.operator, later.operator
        mask = self.mask if later.mask is None else later.mask
        if self.mask is not None and later.mask is not None and self.scale * later.scale == 1:
            mask = self.mask * later.mask
        return replace(
            later,
            mask=mask,
            scale=self.scale * later.scale,
            operator=first if second is identity else (lambda x: second(first(x))),
            data_fit=later.data_fit if later.data_fit != "l2" else self.data_fit,
            linear=self.linear and later.linear,
        )


class Degradation(nn.Module):
    """A degradation operator ``y = D(x)`` applied to a clean batch on its device.

    ``observe(x, source)`` gives the :class:`Observation`; ``forward(x, source)`` its input
    alone. Randomness comes from ``source`` (``TorchNoise`` when omitted). ``clip`` clamps the
    degraded image to [0, 1]; the published Gaussian protocol does not clip. ``data_fit`` names
    the data term that suits the noise ("l2" or "l1"); ``scale`` is how many times smaller the
    observation is than the clean image.
    """

    data_fit: str = "l2"
    scale: int = 1

    def __init__(self, clip: bool = False):
        super().__init__()
        self.clip = clip

    def degrade(self, x: Tensor, source: NoiseSource) -> Tensor:
        raise NotImplementedError

    def observe(self, x: Tensor, source: NoiseSource | None = None) -> Observation:
        """The observation of the clean batch ``x`` (B, C, H, W) in [0, 1]."""
        y = self.degrade(x, source or TorchNoise())
        return Observation(y.clamp(0, 1) if self.clip else y, data_fit=self.data_fit)

    def forward(self, x: Tensor, source: NoiseSource | None = None) -> Tensor:
        return self.observe(x, source).input


def set_data_fit(module: Degradation, data_fit: str | None) -> None:
    """Validate and set a configured ``data_fit`` (None keeps the class default)."""
    if data_fit is None:
        return
    if data_fit not in DATA_FITS:
        raise ValueError(f"noise.data_fit must be one of {DATA_FITS}, got {data_fit!r}")
    module.data_fit = data_fit


def masked(mask: Tensor) -> Operator:
    """The inpainting operator: keep the observed pixels, zero the holes."""

    def apply(x: Tensor) -> Tensor:
        return x * mask.to(x)

    return apply


__all__ = ["Degradation", "Observation", "identity", "masked", "set_data_fit"]
