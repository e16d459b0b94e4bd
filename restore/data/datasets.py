"""The two torch datasets every datamodule uses: random training patches, whole evaluation images.

Both read :class:`~restore.data.example.Example` lists through one
:class:`~restore.data.store.ImageStore`, so any layout (clean images, real pairs, SR pairs with an
LR input ``1/scale`` of the target) gets the same sampling, augmentation and cropping. Workers
only crop and augment uint8 arrays; conversion to float and the degradation happen on the device,
batched, in the task (``RestorationTask.on_after_batch_transfer``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from restore.data.example import Example
from restore.data.store import ImageStore
from restore.imaging import center_box, read_mask, to_chw
from restore.utils.errors import ConfigError, DataError


def _rescale(pixels: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    h, w = pixels.shape[:2]
    out = cv2.resize(pixels, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    return out.reshape(out.shape[0], out.shape[1], pixels.shape[2])


def check_patch_size(
    patch_size: int, sides: Sequence[tuple[int, str]], key: str = "data.patch_size"
) -> None:
    """An error naming ``key`` (and the smallest image) when a ``patch_size`` patch does not fit
    in every training image; ``sides`` is :attr:`PatchDataset.sides`, rescaled copies included.

    >>> check_patch_size(48, [(40, "'a'"), (180, "'b'")])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    restore.utils.errors.DataError: data.patch_size=48 is larger than 1 training image(s) ...
    """
    if patch_size < 1:
        raise ConfigError(f"{key}={patch_size}: a patch needs at least one pixel")
    small = [side for side in sides if side[0] < patch_size]
    if small:
        raise DataError(
            f"{key}={patch_size} is larger than {len(small)} training image(s) "
            f"(smallest: {small[0][1]}, {small[0][0]} px): lower {key} or remove the image"
        )


class PatchDataset(Dataset):
    """Random aligned patches of examples, with the 8 dihedral flips/rotations.

    An "epoch" is ``patches_per_epoch`` patches; each picks an example with probability
    proportional to its target area (so every pixel is equally likely), one uniform random crop
    and one of the 8 dihedral transforms (``k`` quarter turns, then a left-right flip for
    ``d >= 4``), applied identically to input and target. Examples without input yield
    ``{"target"}`` only. All draws come from torch's generator, which Lightning's
    ``seed_everything`` and the DataLoader's per-worker seeds make reproducible. (This was
    albumentations' ``RandomCrop`` + ``D4``; the NumPy slices draw the same distribution and are
    faster: benchmarks/patch_augment.py.)

    ``patch_size`` is the target patch; with ``scale`` > 1 the input patch is
    ``patch_size/scale`` at the aligned position (the crop is drawn on the input's grid).
    ``rescales`` adds rescaled copies of every clean image, decoded once and kept in memory, as in
    DnCNN's training data (scales 1, 0.9, 0.8, 0.7).
    """

    def __init__(
        self,
        examples: Sequence[Example],
        store: ImageStore,
        patch_size: int,
        patches_per_epoch: int,
        augment: bool = True,
        scale: int = 1,
        rescales: Sequence[float] = (1.0,),
    ):
        if not examples:
            raise DataError("the training split holds no image: check the data config")
        if patch_size % scale:
            raise ConfigError(
                f"data.patch_size={patch_size} (target pixels) must be a multiple of the scale "
                f"{scale}"
            )
        rescales = tuple(rescales)
        if rescales != (1.0,):
            if any(ex.input is not None for ex in examples):
                raise ConfigError(
                    "data.scales (rescaled copies) needs clean images: this dataset has inputs"
                )
            examples = [
                ex if s == 1 else Example(ex.name, _rescale(store(ex.target), s))
                for s in rescales
                for ex in examples
            ]
        self.examples = list(examples)
        self.store = store
        self.patch_size = patch_size
        self.patches_per_epoch = patches_per_epoch
        self.scale = scale
        sizes = [store.size(ex.target) for ex in self.examples]
        # each image's smaller side and its name, smallest first: all a patch-size check needs
        self.sides = sorted(
            (min(s), str(ex.target) if isinstance(ex.target, Path) else repr(ex.name))
            for s, ex in zip(sizes, self.examples, strict=True)
        )
        check_patch_size(patch_size, self.sides)
        areas = np.array([h * w for h, w in sizes], dtype=np.float64)
        self.cumulative = np.cumsum(areas / areas.sum())
        self.augment = augment

    def __len__(self) -> int:
        return self.patches_per_epoch

    def _crop(
        self, ex: Example, target: np.ndarray, inp: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        s, p = self.scale, self.patch_size // self.scale
        h, w = target.shape[0] // s, target.shape[1] // s  # the input grid (target modcropped)
        if s == 1 and inp is not None and inp.shape[:2] != target.shape[:2]:
            raise DataError(
                f"{ex.name!r}: input {inp.shape[1]}x{inp.shape[0]} and target "
                f"{target.shape[1]}x{target.shape[0]} differ in size"
            )
        top = int(torch.randint(0, h - p + 1, ()).item())
        left = int(torch.randint(0, w - p + 1, ()).item())
        target = target[top * s : (top + p) * s, left * s : (left + p) * s]
        return target, None if inp is None else inp[top : top + p, left : left + p]

    def __getitem__(self, index: int) -> dict:
        u = torch.rand(()).item()
        k = min(int(np.searchsorted(self.cumulative, u)), len(self.examples) - 1)
        ex = self.examples[k]
        target = self.store(ex.target)
        inp = self.store(ex.input) if ex.input is not None else None
        target, inp = self._crop(ex, target, inp)
        if self.augment:
            d = int(torch.randint(0, 8, ()).item())
            target = dihedral(target, d)
            inp = None if inp is None else dihedral(inp, d)
        item = {"target": _own_chw(target)}
        if inp is not None:
            item["input"] = _own_chw(inp)
        return item


def _own_chw(patch: np.ndarray) -> torch.Tensor:
    """A (C, H, W) copy of a patch: never a view of the stored image (a full-width crop is
    contiguous, and ``to_chw`` would share its memory with the store's cache)."""
    return torch.from_numpy(np.array(patch.transpose(2, 0, 1), order="C"))


def dihedral(pixels: np.ndarray, d: int) -> np.ndarray:
    """The ``d``-th of the 8 dihedral transforms of (H, W, C) pixels: ``d % 4`` quarter turns
    counter-clockwise, then a left-right flip when ``d >= 4`` (a view, no copy).

    >>> x = np.arange(4).reshape(2, 2, 1)
    >>> [dihedral(x, d)[..., 0].tolist() for d in (0, 1, 4)]
    [[[0, 1], [2, 3]], [[1, 3], [0, 2]], [[1, 0], [3, 2]]]
    """
    out = np.rot90(pixels, d % 4, axes=(0, 1))
    return out[:, ::-1] if d >= 4 else out


class EvalDataset(Dataset):
    """Whole examples (optionally centre-cropped) for validation and test.

    Items: ``target``, ``input`` and ``mask`` (when the example has them), ``seed`` (the same for
    every image: the published protocols reset ``RandomState(0)`` before each test image),
    ``index``, ``name`` and ``gray`` (the image is single-channel at heart: SR tables score such
    images of Set14/BSD100 as gray, see ``restore.metrics.sr``). With ``scale`` > 1 the target
    is cropped to ``scale`` times the input ("modcrop"), or to a multiple of ``scale`` when there
    is no input; ``crop`` (in target pixels) keeps input and target aligned.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        store: ImageStore,
        seed: int = 0,
        crop: int | None = None,
        scale: int = 1,
    ):
        if not examples:
            raise DataError("an evaluation split holds no image: check the data config")
        self.examples = list(examples)
        self.store = store
        self.seed = seed
        self.crop = crop
        self.scale = scale

    def __len__(self) -> int:
        return len(self.examples)

    def output_size(self, index: int) -> tuple[int, int]:
        """(height, width) of the target this item yields, from the file headers."""
        ex, s = self.examples[index], self.scale
        h, w = self.store.size(ex.input if ex.input is not None else ex.target)
        if ex.input is None:
            h, w = h // s, w // s
        if self.crop is not None:
            h, w = min(h, self.crop // s), min(w, self.crop // s)
        return h * s, w * s

    def __getitem__(self, index: int) -> dict:
        ex, s = self.examples[index], self.scale
        target = self.store(ex.target)
        inp = self.store(ex.input) if ex.input is not None else None
        # work on the input's grid: the target is s times it
        if inp is not None:
            h, w = inp.shape[:2]
        else:
            h, w = target.shape[0] // s, target.shape[1] // s
        top, left, h, w = center_box(h, w, None if self.crop is None else self.crop // s)
        item = {"target": to_chw(target[top * s : (top + h) * s, left * s : (left + w) * s])}
        if inp is not None:
            item["input"] = to_chw(inp[top : top + h, left : left + w])
        if ex.mask is not None:
            item["mask"] = mask_of(ex.mask, target.shape[:2])[
                None, top * s : (top + h) * s, left * s : (left + w) * s
            ]
        gray = ex.gray if ex.gray is not None else self.store.is_gray(ex.target)
        item.update(seed=self.seed, index=index, name=ex.name, gray=gray)
        return item


def mask_of(path: Path, size: tuple[int, int]) -> torch.Tensor:
    """An example's own mask file as a float (H, W) tensor, 1 where known; it must have its
    image's ``size``."""
    known = read_mask(path)
    if known.shape != tuple(size):
        raise DataError(
            f"mask {path} is {known.shape[1]}x{known.shape[0]} but its image is "
            f"{size[1]}x{size[0]}: a mask must have its image's size"
        )
    return torch.from_numpy(known.astype(np.float32))


__all__ = ["EvalDataset", "PatchDataset"]
