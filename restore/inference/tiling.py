"""Restoring images of any size in overlapping tiles, in bounded memory, without seams.

The scheme, along each axis (rows and columns alike):

* tiles are at most ``tile`` input pixels long: as few as that allows, all of one length, spread
  evenly from one image border to the other;
* at a tile side that lies inside the image, the outer ``overlap`` pixels of its output are
  discarded (weight 0): they were computed with zero padding where the image goes on;
* the next ``blend`` pixels cross-fade with the neighbouring tile through a raised-cosine ramp;
* consecutive tiles therefore share at least ``2 * overlap + blend`` input pixels, and every output
  pixel is a convex combination of tile outputs in which it lies at least ``overlap`` pixels from
  any inner tile border. Sides on the image border keep everything: the untiled network sees the
  same zero padding there.

Exactness: for a network whose output pixel depends on inputs at most ``r // 2`` pixels away
(receptive field ``r``; DnCNN with 17 layers of 3x3 convolutions has r = 35), every tile output
that is kept equals the untiled output, so the blend of equal values is the untiled result (up to
float rounding) whenever ``overlap >= r // 2``. For networks that see further (U-Nets, attention),
tiling is an approximation and the ramp hides the seams. The default ``blend = overlap`` makes
adjacent tiles share ``3 * overlap`` pixels; ``blend=0`` is the plain "keep the inner part" scheme.

``blend=0`` is also the fast scheme for local networks: adjacent tiles share only ``2 * overlap``
pixels (the network's receptive field and no more, when ``overlap = r // 2``), and no weights are
applied: each output pixel is copied from exactly one tile, the one whose kept part it is nearest
the middle of (the seam between two tiles is halfway through their common kept pixels). The
result is then the untiled output up to the float rounding of convolutions of other sizes; with
larger tiles the redundant border compute shrinks further (at 4096 px per axis: 1.07x the pixels
for tiles of 1024 and overlap 17, against 1.47x for 512 / 32 / 32).
:func:`~restore.inference.receptive.receptive_radius` reads ``r // 2`` from a network's graph.

Memory: the weights are separable and normalised per axis (1-D sums over the tiles of that axis),
so the only full-size buffer is the output itself; tiles run one (or ``batch`` together) at a
time under ``torch.inference_mode``, optionally on another device than the image's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm


def axis_layout(n: int, tile: int, overlap: int, blend: int) -> tuple[list[int], int]:
    """First input index of each tile along an axis of ``n`` pixels, and the tiles' length.

    As few tiles as ``tile`` allows, then shrunk to one common length <= ``tile`` and spread
    evenly, so that no compute is spent on needlessly large overlaps (a 600-pixel axis takes
    two 348-pixel tiles rather than two of 512).
    """
    if n <= tile:
        return [0], n
    shared = 2 * overlap + blend  # input pixels consecutive tiles must have in common
    count = math.ceil((n - tile) / (tile - shared)) + 1
    length = math.ceil((n + (count - 1) * shared) / count)
    return [round(i * (n - length) / (count - 1)) for i in range(count)], length


def axis_weights(
    n: int, tile: int, overlap: int, blend: int, scale: int = 1
) -> tuple[list[int], list[Tensor]]:
    """Tile starts (input pixels) and their 1-D output weights, summing to 1 at every pixel.

    The weights' length is the tile length times ``scale``.
    """
    starts, length = axis_layout(n, tile, overlap, blend)
    length *= scale
    margin, band = overlap * scale, blend * scale
    # strictly inside (0, 1): every kept pixel gets a positive weight
    ramp = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(band, dtype=torch.float64) + 0.5) / band)
    weights = []
    for k in range(len(starts)):
        w = torch.ones(length, dtype=torch.float64)
        if k > 0:  # inner side at the start
            w[:margin] = 0
            w[margin : margin + band] *= ramp
        if k < len(starts) - 1:  # inner side at the end
            w[length - margin :] = 0
            w[length - margin - band : length - margin] *= ramp.flip(0)
        weights.append(w)
    total = torch.zeros(n * scale, dtype=torch.float64)
    for s, w in zip(starts, weights, strict=True):
        total[s * scale : s * scale + length] += w
    if not bool((total > 0).all()):  # cannot happen for a valid stride; guards the arithmetic
        raise RuntimeError("tiling left output pixels without any tile")
    normalised = [
        (w / total[s * scale : s * scale + length]).float()
        for s, w in zip(starts, weights, strict=True)
    ]
    return starts, normalised


def axis_spans(
    n: int, tile: int, overlap: int, scale: int = 1
) -> tuple[list[int], int, list[tuple[int, int]]]:
    """The crop scheme (``blend=0``) along an axis: tile starts and length (input pixels), and
    the output span ``[lo, hi)`` (output pixels, of the whole axis) each tile alone writes.

    The spans partition the axis; tile ``k`` hands over to tile ``k + 1`` halfway through the
    pixels both keep, so every written pixel lies at least ``overlap`` input pixels from an inner
    tile side.
    """
    starts, length = axis_layout(n, tile, overlap, 0)
    seams = [(a + b + length) // 2 for a, b in itertools.pairwise(starts)]
    bounds = [0, *seams, n]
    return starts, length, [(lo * scale, hi * scale) for lo, hi in itertools.pairwise(bounds)]


def tiled_apply(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    tile: int | None = 512,
    overlap: int = 32,
    scale: int = 1,
    blend: int | None = None,
    batch: int = 1,
    device: torch.device | str | None = None,
    progress: str | None = None,
) -> Tensor:
    """Apply an image-to-image ``fn`` to ``x`` (B, C, H, W) tile by tile; see the module doc.

    Args:
        fn: maps (b, C, h, w) to (b, C_out, h * scale, w * scale).
        tile: tile size in input pixels; ``None`` (or a tile covering the image) runs ``fn`` once.
        overlap: output pixels discarded at inner tile sides (context); exact when >= r // 2.
        scale: output/input size ratio (super-resolution).
        blend: width of the cross-fade band; ``None`` means ``overlap``; 0: each output pixel
            is copied from one tile (:func:`axis_spans`), the fast and exact scheme for networks
            whose receptive radius is at most ``overlap``.
        batch: how many tiles ``fn`` receives at once.
        device: where ``fn`` runs (tiles are moved there and back); default ``x``'s device.
        progress: the label of a tqdm bar over the tiles (when there are several and stderr is
            a terminal); None: no bar.

    Returns:
        float32 (B, C_out, H * scale, W * scale) on ``x``'s device.
    """
    blend = overlap if blend is None else blend
    if overlap < 0 or blend < 0 or scale < 1 or batch < 1:
        raise ValueError("tiled_apply needs overlap >= 0, blend >= 0, scale >= 1 and batch >= 1")
    height, width = x.shape[-2:]
    device = torch.device(device) if device is not None else x.device
    with torch.inference_mode():
        if tile is None or (height <= tile and width <= tile):
            return fn(x.to(device)).to(x.device, torch.float32)
        if tile - 2 * overlap - blend < 1:
            raise ValueError(
                f"tile ({tile}) must exceed 2 * overlap + blend ({2 * overlap + blend}): "
                "use larger tiles or a smaller overlap"
            )
        if blend == 0:  # local networks: copy each tile's span, no weights
            ys, th, yspans = axis_spans(height, tile, overlap, scale)
            xs, tw, xspans = axis_spans(width, tile, overlap, scale)
        else:
            ys, wys = axis_weights(height, tile, overlap, blend, scale)
            xs, wxs = axis_weights(width, tile, overlap, blend, scale)
            th, tw = len(wys[0]) // scale, len(wxs[0]) // scale
        grid = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
        out: Tensor | None = None
        bar = tqdm(
            total=len(grid),
            desc=progress,
            unit="tile",
            leave=False,
            disable=True if progress is None else None,
            dynamic_ncols=True,
        )
        for first in range(0, len(grid), batch):
            chunk = grid[first : first + batch]
            tiles = [x[..., ys[i] : ys[i] + th, xs[j] : xs[j] + tw] for i, j in chunk]
            result = fn(torch.cat(tiles).to(device))
            expected = (th * scale, tw * scale)
            if tuple(result.shape[-2:]) != expected:
                raise ValueError(
                    f"fn mapped a {th}x{tw} tile to {tuple(result.shape[-2:])}, expected "
                    f"{expected} for scale={scale}"
                )
            if out is None:  # allocated once, when the output channels are known
                shape = (x.shape[0], result.shape[1], height * scale, width * scale)
                # the crop scheme writes every pixel once; the blend accumulates into zeros
                alloc = x.new_empty if blend == 0 else x.new_zeros
                out = alloc(shape, dtype=torch.float32)
            parts = result.to(out.device, torch.float32).split(x.shape[0])
            for (i, j), part in zip(chunk, parts, strict=True):
                y0, x0 = ys[i] * scale, xs[j] * scale
                if blend == 0:
                    (top, bottom), (left, right) = yspans[i], xspans[j]
                    kept = part[..., top - y0 : bottom - y0, left - x0 : right - x0]
                    out[..., top:bottom, left:right] = kept
                    continue
                weight = wys[i].to(out.device)[:, None] * wxs[j].to(out.device)[None, :]
                out[..., y0 : y0 + expected[0], x0 : x0 + expected[1]].addcmul_(part, weight)
            bar.update(len(chunk))
        bar.close()
        return out
