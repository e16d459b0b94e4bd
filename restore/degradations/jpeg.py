"""JPEG compression artefacts: the image saved as a JPEG of a given quality and read back.

The artefact-removal benchmarks (ARCNN, Dong et al. ICCV 2015; DnCNN-3, Zhang et al. TIP 2017;
FBCNN, Jiang et al. ICCV 2021) compress 8-bit images with libjpeg at qualities 10-40 and restore
the decoded image; gray images are compressed as gray, colour ones as RGB (YCbCr 4:2:0 inside the
codec). The codec is torchvision's libjpeg binding (``torchvision.io.encode_jpeg``): the same
library as PIL and OpenCV, on uint8 tensors, without a round trip through files.

The quality is ``quality`` for every image or, blind, an integer drawn per image from
``quality_range`` (inclusive) by the ``NoiseSource``: torch's generator in training,
``RandomState(seed)`` per image in validation and test, like every degradation. JPEG has no
differentiable forward model: the observation's operator is the identity, marked ``linear=False``
(an approximation), so Deep Image Prior fits the decoded image directly and its early stop does the
restoring, as in the paper's JPEG experiment (Ulyanov et al., CVPR 2018, Fig. 1).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.io import decode_jpeg, encode_jpeg

from restore.degradations.base import Degradation, Observation
from restore.degradations.noise_source import NoiseSource, TorchNoise

__all__ = ["JPEGCompression"]


class JPEGCompression(Degradation):
    """Compress each image as a JPEG of quality ``quality`` (1-100) and decode it.

    >>> x = torch.linspace(0, 1, 16 * 16).view(1, 1, 16, 16)
    >>> y = JPEGCompression(quality=10)(x)
    >>> y.shape, bool((y - x).abs().max() > 0), bool((y * 255 - (y * 255).round()).abs().max() == 0)
    (torch.Size([1, 1, 16, 16]), True, True)
    """

    def __init__(
        self,
        quality: int | None = 20,
        quality_range: tuple[int, int] | None = None,
    ):
        super().__init__(clip=False)  # decoded pixels are 8-bit levels already
        if (quality is None) == (quality_range is None):
            raise ValueError(
                "JPEGCompression needs exactly one of noise.quality or noise.quality_range"
            )
        bounds = [quality] if quality is not None else list(quality_range)
        if len(bounds) not in (1, 2) or not all(1 <= int(q) <= 100 for q in bounds):
            raise ValueError(f"noise.quality(_range) must lie in [1, 100], got {bounds}")
        if quality_range is not None and not quality_range[0] <= quality_range[1]:
            raise ValueError(f"noise.quality_range must be [low, high], got {list(quality_range)}")
        self.quality = None if quality is None else int(quality)
        self.quality_range = None if quality_range is None else tuple(int(q) for q in quality_range)

    def qualities(self, like: Tensor, source: NoiseSource) -> list[int]:
        """The quality of each image: fixed, or drawn uniformly from the inclusive range."""
        if self.quality is not None:
            return [self.quality] * like.shape[0]
        low, high = self.quality_range
        u = source.per_image(like.float(), low, high + 1).view(-1)
        return [min(int(q), high) for q in u.floor().tolist()]

    def degrade(self, x: Tensor, source: NoiseSource) -> Tensor:
        if x.shape[1] not in (1, 3):
            raise ValueError(f"JPEG compresses gray or RGB images, got {x.shape[1]} channels")
        pixels = x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
        out = [
            decode_jpeg(encode_jpeg(img, quality=q))
            for img, q in zip(pixels, self.qualities(x, source), strict=True)
        ]
        return torch.stack(out).to(device=x.device, dtype=x.dtype).div_(255)

    def observe(self, x: Tensor, source: NoiseSource | None = None) -> Observation:
        return Observation(self.degrade(x, source or TorchNoise()), linear=False)

    def extra_repr(self) -> str:
        return f"quality={self.quality}, quality_range={self.quality_range}"
