"""Geometric self-ensemble: average a network's outputs over the 8 flips/rotations of its input.

Timofte, Rothe & Van Gool, "Seven ways to improve example-based single image super resolution",
CVPR 2016; used as "EDSR+" by Lim et al., CVPR 2017 and in most restoration papers since ("x8").
It trades 8 forward passes for a better estimate, with no training: each transformed copy of the
input is restored, transformed back, and the 8 results are averaged. Valid for degradations that
commute with the dihedral group: i.i.d. noise, isotropic blur, bicubic down-sampling, masks (the
mask channel is transformed with the image). Eight lines of torch; test-time augmentation
libraries (ttach) add a dependency for no gain here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

DIHEDRAL = [(k, flip) for k in range(4) for flip in (False, True)]


def self_ensemble(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Mean of ``T^-1 fn(T x)`` over the 8 dihedral transforms ``T`` of the last two dims."""
    total = None
    for k, flip in DIHEDRAL:
        t = torch.rot90(x, k, dims=(-2, -1))
        y = fn(t.flip(-1) if flip else t)
        y = torch.rot90(y.flip(-1) if flip else y, -k, dims=(-2, -1))
        total = y if total is None else total + y
    return total / len(DIHEDRAL)
