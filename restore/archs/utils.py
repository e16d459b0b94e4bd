"""Shared helpers of the network zoo: padding to a size multiple, cropping back, group norm."""

import torch.nn.functional as F
from torch import Tensor, nn


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Pad ``x`` (B, C, H, W) on the bottom and right so that H and W are multiples of ``multiple``.

    Reflect padding is used (no artificial edge at the border); when a side is not longer than
    the pad it needs, reflection is undefined and replicate padding is used instead.
    Returns the padded tensor and the original ``(H, W)``, to be passed to :func:`crop_to`.
    """
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    h, w = x.shape[-2:]
    pad_h = (-h) % multiple
    pad_w = (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (h, w)
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), (h, w)


def crop_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Crop ``x`` to its top-left ``size = (H, W)``, undoing :func:`pad_to_multiple`."""
    h, w = size
    if h > x.shape[-2] or w > x.shape[-1]:
        raise ValueError(f"cannot crop {tuple(x.shape[-2:])} to a larger size {(h, w)}")
    return x[..., :h, :w]


def group_norm(channels: int, max_groups: int = 32, min_group_size: int = 4) -> nn.GroupNorm:
    """GroupNorm (Wu & He, 2018) with as many groups as possible, at most ``max_groups``, and at
    least ``min_group_size`` channels per group where the width allows it (narrow test networks
    would otherwise degenerate to one channel per group, i.e. instance norm)."""
    groups = max(1, min(max_groups, channels // min_group_size))
    while channels % groups:
        groups -= 1
    return nn.GroupNorm(groups, channels)
