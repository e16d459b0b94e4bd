"""The ground floor of pixel conventions: 8-bit rounding and luma, imported by every layer above.

Every other module that rounds to 8 bits or takes the luma of an image imports these, so a
benchmark LR image, a metric and a saved PNG agree on the same levels.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["match_channels", "quantize", "rgb_to_gray", "rgb_to_y", "round_half_up"]

# ITU-R BT.601 luma weights of MATLAB's rgb2ycbcr (studio range), for RGB in [0, 1].
_Y_WEIGHTS = (65.481, 128.553, 24.966)
# ITU-R BT.601 full-range luma in PIL's fixed point (ImagingConvert to "L"): x / 65536.
_GRAY_WEIGHTS = (19595, 38470, 7471)


def round_half_up(x: Tensor) -> Tensor:
    """Round to the nearest integer, halves up (MATLAB rounds half away from zero; torch.round
    rounds half to even). For ``x >= 0``, as every pixel value here is after clipping.

    >>> round_half_up(torch.tensor([0.5, 1.5, 2.5, 2.4])).tolist()
    [1.0, 2.0, 3.0, 2.0]
    """
    return torch.floor(x + 0.5)


def quantize(x: Tensor) -> Tensor:
    """Clip to [0, 1] and round to the 256 uint8 levels, staying float: what a saved 8-bit image
    holds (MATLAB ``im2uint8``, halves rounded up), and what the published protocol scores.

    >>> (quantize(torch.tensor([-0.1, 0.5 / 255, 1.5 / 255, 1.2])) * 255).tolist()
    [0.0, 1.0, 2.0, 255.0]
    """
    return round_half_up(x.clamp(0, 1) * 255) / 255


def rgb_to_y(x: Tensor) -> Tensor:
    """Luma of ITU-R BT.601 in studio range (MATLAB ``rgb2ycbcr``), scaled to [0, 1].

    Args:
        x: (B, 3, H, W) RGB in [0, 1]; a (B, 1, H, W) gray tensor is returned unchanged.
    Returns:
        (B, 1, H, W) Y / 255, i.e. in [16/255, 235/255] for inputs in [0, 1].

    >>> (rgb_to_y(torch.ones(1, 3, 1, 1)) * 255).round().item()
    235.0
    """
    if x.shape[-3] == 1:
        return x
    if x.shape[-3] != 3:
        raise ValueError(f"rgb_to_y: expected 1 or 3 channels, got shape {tuple(x.shape)}.")
    w = x.new_tensor(_Y_WEIGHTS).view(3, 1, 1)
    return (16.0 + (x * w).sum(dim=-3, keepdim=True)) / 255.0


def rgb_to_gray(x: Tensor, bits: int | None = 8) -> Tensor:
    """Full-range ITU-R BT.601 luma (B, 1, H, W) of RGB images (B, 3, H, W) in [0, 1].

    With ``bits`` (8 or 16) the images hold integer levels of that depth and the luma is rounded
    to them as PIL's ``convert("L")`` rounds: bit for bit PIL's gray image for 8-bit inputs (the
    data loaders, which read colour files into gray models' test sets, use this function too).
    ``bits=None``: the plain weighted sum, for float images (a restored output).

    >>> rgb = torch.tensor([255.0, 128.0, 0.0]).view(1, 3, 1, 1) / 255
    >>> int(rgb_to_gray(rgb).item() * 255 + 0.5)  # PIL: (255*19595 + 128*38470 + 32768) >> 16
    151
    """
    if x.shape[-3] == 1:
        return x
    if x.shape[-3] != 3:
        raise ValueError(f"rgb_to_gray: expected 3 channels, got shape {tuple(x.shape)}")
    w = torch.tensor(_GRAY_WEIGHTS, dtype=torch.float64, device=x.device).view(3, 1, 1)
    if bits is None:
        return ((x.double() * w).sum(dim=-3, keepdim=True) / 65536).to(x.dtype)
    top = float(2**bits - 1)
    levels = (x.double().clamp(0, 1) * top).round()
    gray = torch.floor(((levels * w).sum(dim=-3, keepdim=True) + 32768) / 65536)
    return (gray / top).to(x.dtype)


def match_channels(x: Tensor, channels: int, bits: int | None = 8) -> Tensor:
    """The one channel policy of every entry point (eval's data loading, predict, pipeline):

    - a colour image given to a gray model is restored as its luma (:func:`rgb_to_gray`, as the
      gray benchmarks were made from colour photos), and the result is gray;
    - a gray image given to a colour model is restored as three equal channels;
    - the alpha channel, if any, is not restored (callers keep it aside).

    >>> match_channels(torch.rand(2, 3, 4, 4), 1).shape
    torch.Size([2, 1, 4, 4])
    >>> match_channels(torch.rand(1, 1, 2, 2), 3).shape
    torch.Size([1, 3, 2, 2])
    """
    have = x.shape[-3]
    if have == channels:
        return x
    if have == 3 and channels == 1:
        return rgb_to_gray(x, bits)
    if have == 1 and channels == 3:
        return x.expand(*x.shape[:-3], 3, *x.shape[-2:]).contiguous()
    raise ValueError(f"cannot give an image of {have} channels to a model of {channels}")
