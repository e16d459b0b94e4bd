"""Bicubic interpolation as a parameter-free "network": the baseline row of SR tables.

MATLAB's ``imresize(lr, scale, 'bicubic')`` (see ``restore.degradations.resize``), so that
``restore.eval task=sr model=bicubic`` reproduces the published bicubic numbers (Set5 x2:
33.66 dB Y-PSNR) through the same evaluation as every trained model.
"""

from torch import Tensor, nn

from restore.degradations.resize import imresize


class Bicubic(nn.Module):
    """Upscale by ``scale`` with MATLAB's bicubic; ``scale=1`` is the identity.

    ``emulate_uint8`` rounds each resize pass to 8-bit levels, as MATLAB does on uint8 images.
    ``in_channels``/``out_channels`` are accepted for config compatibility and must agree.
    """

    def __init__(
        self,
        scale: int = 2,
        in_channels: int | None = None,
        out_channels: int | None = None,
        emulate_uint8: bool = False,
    ):
        super().__init__()
        if scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")
        if in_channels is not None and out_channels is not None and in_channels != out_channels:
            raise ValueError(
                "bicubic interpolation keeps the channels: in_channels != out_channels"
            )
        self.scale = scale
        self.emulate_uint8 = emulate_uint8

    def forward(self, x: Tensor) -> Tensor:
        if self.scale == 1:
            return x
        return imresize(x, float(self.scale), emulate_uint8=self.emulate_uint8)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, emulate_uint8={self.emulate_uint8}"
