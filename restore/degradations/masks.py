"""Inpainting masks (the ``noise`` group's ``mask_*`` options): which pixels are missing.

A mask is a (B, 1, H, W) float tensor, 1 where the pixel is known and 0 in the holes, drawn from
the ``NoiseSource`` like every degradation: batched torch draws in training, ``RandomState(seed)``
per image in validation and test, so evaluation holes are the same for every run. As a
degradation, a mask hides its holes (``fill`` value) and its observation carries the mask, which
``restore.tasks.InpaintTask`` gives to the network and Deep Image Prior uses in its data term.

Options: random pixels (a missing ratio), rectangular boxes, free-form brush strokes (Yu et al.,
"Free-Form Image Inpainting with Gated Convolution", ICCV 2019, Algorithm 1), overlaid text (the
"text removal" masks of Deep Image Prior, Ulyanov et al., CVPR 2018) and mask images from a file
or a folder (e.g. the irregular masks of Liu et al., ECCV 2018).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from restore.degradations.base import Degradation, Observation, masked
from restore.degradations.noise_source import NoiseSource, TorchNoise
from restore.imaging import IMAGE_SUFFIXES, read_mask
from restore.utils.errors import DataError


def _fraction_range(values: Sequence[float], name: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in values)
    if not 0 <= lo <= hi <= 1:
        raise ValueError(f"noise.{name} must be [low, high] within [0, 1], got {list(values)}")
    return lo, hi


def _count_range(values: Sequence[int], name: str) -> tuple[int, int]:
    lo, hi = (int(v) for v in values)
    if not 1 <= lo <= hi:
        raise ValueError(f"noise.{name} must be [low, high] with 1 <= low <= high, got {values}")
    return lo, hi


def _draw_int(source: NoiseSource, like: Tensor, lo: int, hi: int) -> Tensor:
    """(B,) integers uniform in [lo, hi], one draw per image."""
    u = source.per_image(like, 0.0, 1.0).view(-1).float()
    return (lo + (u * (hi - lo + 1)).floor()).clamp(max=hi)


class MaskDegradation(Degradation):
    """Base of the masks: ``draw_mask`` gives the mask, ``degrade`` fills the holes."""

    def __init__(self, fill: float = 0.0):
        super().__init__(clip=False)
        self.fill = float(fill)

    def draw_mask(self, like: Tensor, source: NoiseSource) -> Tensor:
        """(B, 1, H, W) float mask for a batch shaped like ``like``: 1 known, 0 missing."""
        raise NotImplementedError

    def apply(self, x: Tensor, mask: Tensor) -> Tensor:
        """The image with its holes set to ``fill``."""
        return x * mask + self.fill * (1 - mask)

    def degrade(self, x: Tensor, source: NoiseSource) -> Tensor:
        return self.apply(x, self.draw_mask(x, source))

    def observe(self, x: Tensor, source: NoiseSource | None = None) -> Observation:
        """The image with its holes filled, the mask, and the masking operator."""
        mask = self.draw_mask(x, source or TorchNoise()).to(x.dtype)
        return Observation(self.apply(x, mask), mask=mask, operator=masked(mask))


class RandomPixelMask(MaskDegradation):
    """Each pixel missing independently with probability ``missing`` (or ``missing_range``,
    drawn per image): the "pixel inpainting" of e.g. Deep Image Prior's 50% missing pixels."""

    def __init__(
        self,
        missing: float | None = 0.5,
        missing_range: Sequence[float] | None = None,
        fill: float = 0.0,
    ):
        super().__init__(fill)
        if (missing is None) == (missing_range is None):
            raise ValueError("RandomPixelMask needs exactly one of noise.missing or missing_range")
        if missing is not None and not 0 <= missing <= 1:
            raise ValueError(f"noise.missing must lie in [0, 1], got {missing}")
        self.missing = missing
        self.missing_range = (
            _fraction_range(missing_range, "missing_range") if missing_range else None
        )

    def draw_mask(self, like: Tensor, source: NoiseSource) -> Tensor:
        plane = like[:, :1].float()
        ratio = (
            source.per_image(plane, *self.missing_range)
            if self.missing_range is not None
            else self.missing
        )
        return (source.uniform(plane) >= ratio).float()


class BoxMask(MaskDegradation):
    """``boxes`` axis-aligned rectangles per image, each side a ``size_range`` fraction of the
    image's side, placed uniformly inside the image."""

    def __init__(self, boxes: int = 2, size_range: Sequence[float] = (0.1, 0.4), fill: float = 0.0):
        super().__init__(fill)
        if boxes < 1:
            raise ValueError(f"noise.boxes must be >= 1, got {boxes}")
        self.boxes = int(boxes)
        self.size_range = _fraction_range(size_range, "size_range")

    def draw_mask(self, like: Tensor, source: NoiseSource) -> Tensor:
        b, _, h, w = like.shape
        plane = like[:, :1].float()
        ys = torch.arange(h, device=like.device).view(1, 1, h, 1)
        xs = torch.arange(w, device=like.device).view(1, 1, 1, w)
        hole = torch.zeros(b, 1, h, w, dtype=torch.bool, device=like.device)
        for _ in range(self.boxes):  # per box and image: height, width, top, left
            bh = (source.per_image(plane, *self.size_range) * h).round().clamp(1, h)
            bw = (source.per_image(plane, *self.size_range) * w).round().clamp(1, w)
            top = (source.per_image(plane, 0.0, 1.0) * (h - bh + 1)).floor()
            left = (source.per_image(plane, 0.0, 1.0) * (w - bw + 1)).floor()
            hole |= (ys >= top) & (ys < top + bh) & (xs >= left) & (xs < left + bw)
        return (~hole).float()


def _segment_distance(px: Tensor, py: Tensor, a: tuple[Tensor, Tensor], b: tuple[Tensor, Tensor]):
    """Distance from the points (px, py) to the segments a-b (all broadcast together)."""
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy).clamp(min=1e-12)
    t = t.clamp(0, 1)
    return torch.hypot(px - (ax + t * dx), py - (ay + t * dy))


class StrokeMask(MaskDegradation):
    """Free-form brush strokes (Yu et al. 2019, Algorithm 1), drawn on the device.

    Each of ``strokes`` (a count drawn in the range per image) starts at a random point and
    makes ``vertices`` (drawn per stroke) straight moves: angle uniform in ``[0, max_angle]``
    radians, mirrored (2 pi - angle) every other move, length up to ``max_length`` times the
    image diagonal, brush width a ``width_range`` fraction of the shorter side. A move paints a
    line with round caps (the paper's ``cv2.line`` + ``cv2.circle``): every pixel whose centre
    lies within half the width of the segment.
    """

    def __init__(
        self,
        strokes: Sequence[int] = (1, 4),
        vertices: Sequence[int] = (4, 12),
        max_angle: float = 2 * math.pi / 5,
        max_length: float = 0.25,
        width_range: Sequence[float] = (0.03, 0.1),
        fill: float = 0.0,
    ):
        super().__init__(fill)
        self.strokes = _count_range(strokes, "strokes")
        self.vertices = _count_range(vertices, "vertices")
        self.max_angle = float(max_angle)
        if not 0 < max_length <= 1:
            raise ValueError(f"noise.max_length must lie in (0, 1], got {max_length}")
        self.max_length = float(max_length)
        self.width_range = _fraction_range(width_range, "width_range")

    def draw_mask(self, like: Tensor, source: NoiseSource) -> Tensor:
        b, _, h, w = like.shape
        plane = like[:, :1].float()
        dev = like.device
        py = torch.arange(h, device=dev, dtype=torch.float32).view(1, h, 1) + 0.5
        px = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, w) + 0.5
        diag, short = math.hypot(h, w), min(h, w)
        hole = torch.zeros(b, h, w, dtype=torch.bool, device=dev)
        n_strokes = _draw_int(source, plane, *self.strokes)
        for s in range(self.strokes[1]):
            n_vertices = _draw_int(source, plane, *self.vertices)
            x = source.per_image(plane, 0.0, w).view(-1, 1, 1).float()
            y = source.per_image(plane, 0.0, h).view(-1, 1, 1).float()
            stroke_on = (n_strokes > s).view(-1, 1, 1)
            for v in range(self.vertices[1]):
                angle = source.per_image(plane, 0.0, self.max_angle).view(-1, 1, 1).float()
                if v % 2 == 0:
                    angle = 2 * math.pi - angle
                length = source.per_image(plane, 0.0, self.max_length * diag).view(-1, 1, 1)
                width = source.per_image(plane, *self.width_range).view(-1, 1, 1) * short
                radius = (width.float() / 2).clamp(min=0.5)
                nx = (x + length.float() * torch.sin(angle)).clamp(0, w)
                ny = (y + length.float() * torch.cos(angle)).clamp(0, h)
                on = stroke_on & (n_vertices > v).view(-1, 1, 1)
                hole |= on & (_segment_distance(px, py, (x, y), (nx, ny)) <= radius)
                x, y = nx, ny
        return (~hole).float().unsqueeze(1)


_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
# FONT_HERSHEY_SIMPLEX's cap height at fontScale 1, in pixels (cv2.getTextSize("H", ...)).
_HERSHEY_HEIGHT = 22.0


class TextMask(MaskDegradation):
    """Overlaid text: ``lines`` (range per image) of random characters, rendered by OpenCV.

    Each line has ``chars`` characters, a height that is a ``size_range`` fraction of the image
    height, a stroke thickness of ``thickness`` times the height, a uniform position (its start
    may lie left of the image, so text is cut at both sides). Rendering runs on the CPU, one
    image at a time; the random draws come from the source as for every mask.
    """

    def __init__(
        self,
        lines: Sequence[int] = (2, 6),
        chars: Sequence[int] = (6, 20),
        size_range: Sequence[float] = (0.05, 0.12),
        thickness: float = 0.15,
        fill: float = 0.0,
    ):
        super().__init__(fill)
        self.lines = _count_range(lines, "lines")
        self.chars = _count_range(chars, "chars")
        self.size_range = _fraction_range(size_range, "size_range")
        if not 0 < thickness <= 1:
            raise ValueError(f"noise.thickness must lie in (0, 1], got {thickness}")
        self.thickness = float(thickness)

    def draw_mask(self, like: Tensor, source: NoiseSource) -> Tensor:
        b, _, h, w = like.shape
        plane = like[:, :1].float()
        n_lines = _draw_int(source, plane, *self.lines).tolist()
        lines = []  # per line: (B,) tensors of height, x, y, chars
        for _ in range(self.lines[1]):
            size = source.per_image(plane, *self.size_range).view(-1) * h
            x = source.per_image(plane, -0.3, 0.9).view(-1) * w
            y = source.per_image(plane, 0.0, 1.0).view(-1) * h
            n_chars = _draw_int(source, plane, *self.chars)
            letters = [
                _draw_int(source, plane, 0, len(_ALPHABET) - 1) for _ in range(self.chars[1])
            ]
            lines.append((size, x, y, n_chars, torch.stack(letters, 1)))
        masks = []
        for i in range(b):
            canvas = np.ones((h, w), dtype=np.uint8)
            for j, (size, x, y, n_chars, letters) in enumerate(lines):
                if j >= n_lines[i]:
                    continue
                text = "".join(_ALPHABET[int(c)] for c in letters[i, : int(n_chars[i])])
                height = max(float(size[i]), 3.0)
                scale = height / _HERSHEY_HEIGHT
                thick = max(1, round(self.thickness * height))
                origin = (int(x[i]), int(y[i] + height / 2))  # baseline-left corner
                cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, 0, thick)
            masks.append(torch.from_numpy(canvas))
        return torch.stack(masks)[:, None].to(device=like.device, dtype=torch.float32)


_SUFFIXES = IMAGE_SUFFIXES


class FileMask(MaskDegradation):
    """Masks read from an image file or a folder of them (white = known by default).

    Per image one mask is picked uniformly (a folder) and resized to the image with nearest
    neighbours, as mask datasets are used (Liu et al. 2018). ``invert`` for black = known.
    """

    def __init__(self, path: str, invert: bool = False, threshold: float = 0.5, fill: float = 0.0):
        super().__init__(fill)
        self.path = Path(path)
        self.invert = invert
        self.threshold = float(threshold)
        self._masks: list[Tensor] | None = None

    def masks(self) -> list[Tensor]:
        """The (1, 1, h, w) binary masks, read once."""
        if self._masks is None:
            if self.path.is_dir():
                files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in _SUFFIXES)
            elif self.path.is_file():
                files = [self.path]
            else:
                raise DataError(f"mask file or folder {self.path} does not exist: check noise.path")
            if not files:
                raise DataError(f"mask folder {self.path} holds no images ({', '.join(_SUFFIXES)})")
            masks = []
            for f in files:
                # the one reader (restore.imaging): 8-bit luma, alpha dropped, EXIF upright
                known = read_mask(f, self.threshold, self.invert)
                masks.append(torch.from_numpy(known)[None, None])
            self._masks = masks
        return self._masks

    def draw_mask(self, like: Tensor, source: NoiseSource) -> Tensor:
        masks = self.masks()
        picks = _draw_int(source, like[:, :1].float(), 0, len(masks) - 1).tolist()
        size = like.shape[-2:]
        out = [F.interpolate(masks[int(k)].float(), size=size, mode="nearest-exact") for k in picks]
        return torch.cat(out).to(device=like.device)
