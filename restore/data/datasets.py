"""Torch datasets over images decoded once into memory.

Workers only crop and augment uint8 arrays; conversion to float and the degradation happen on the
device, batched, in the task module (``RestorationTask.on_after_batch_transfer``).
"""

from __future__ import annotations

from dataclasses import dataclass

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset


@dataclass(frozen=True)
class Image:
    """A decoded image: HxWxC uint8 pixels and a name for reports."""

    name: str
    pixels: np.ndarray


def _to_tensor(pixels: np.ndarray) -> torch.Tensor:
    # CHW, C-contiguous and writable (PIL-decoded arrays and memory-mapped caches are read-only,
    # which torch warns about): copies only where needed
    return torch.from_numpy(np.require(pixels.transpose(2, 0, 1), requirements=["C", "W"]))


class PatchDataset(Dataset):
    """Random square patches of in-memory images, with the dihedral flips/rotations.

    An "epoch" is ``patches_per_epoch`` patches; each picks an image with probability proportional
    to its area (so every pixel is equally likely), a random crop, and one of the 8 dihedral
    transforms (albumentations ``D4``). ``scales`` adds rescaled copies of every image, decoded
    once, as in DnCNN's training data (scales 1, 0.9, 0.8, 0.7).
    """

    def __init__(
        self,
        images: list[Image],
        patch_size: int,
        patches_per_epoch: int,
        augment: bool = True,
        scales: tuple[float, ...] = (1.0,),
    ):
        if not images:
            raise ValueError("PatchDataset needs at least one image")
        pool = []
        for s in scales:
            for img in images:
                pool.append(img.pixels if s == 1 else _rescale(img.pixels, s))
        small = [p.shape[:2] for p in pool if min(p.shape[:2]) < patch_size]
        if small:
            raise ValueError(
                f"data.patch_size={patch_size} is larger than {len(small)} training image(s) "
                f"(smallest {min(small)}): lower data.patch_size"
            )
        self.pool = pool
        areas = np.array([p.shape[0] * p.shape[1] for p in pool], dtype=np.float64)
        self.weights = areas / areas.sum()
        self._cumulative = np.cumsum(self.weights)
        self.patches_per_epoch = patches_per_epoch
        ops = [A.RandomCrop(patch_size, patch_size)]
        if augment:
            ops.append(A.D4())
        self.transform = A.Compose(ops)
        self._seeded_for: int | None = None

    def __len__(self) -> int:
        return self.patches_per_epoch

    def __getitem__(self, index: int) -> dict:
        # albumentations keeps its own random state, which forked workers would share: reseed it
        # from torch's per-worker seed (itself derived from seed_everything), once per worker.
        seed = torch.initial_seed()
        if seed != self._seeded_for:
            self.transform.set_random_seed(seed % 2**32)
            self._seeded_for = seed
        u = torch.rand(()).item()
        k = min(int(np.searchsorted(self._cumulative, u)), len(self.pool) - 1)
        patch = self.transform(image=self.pool[k])["image"]
        return {"target": _to_tensor(patch)}


def _rescale(pixels: np.ndarray, scale: float) -> np.ndarray:
    import cv2  # albumentations' own dependency

    h, w = pixels.shape[:2]
    out = cv2.resize(pixels, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    return out.reshape(out.shape[0], out.shape[1], pixels.shape[2])


def center_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """The centred ``size`` x ``size`` crop of an HWC array (whole sides where it is smaller)."""
    h, w = pixels.shape[:2]
    ch, cw = min(size, h), min(size, w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return pixels[top : top + ch, left : left + cw]


class ImageDataset(Dataset):
    """Whole images (optionally center-cropped) for validation and test, with a noise seed each.

    The seed is the same for every image (``seed``): the published protocol resets
    ``RandomState(0)`` before each test image.
    """

    def __init__(self, images: list[Image], seed: int = 0, crop: int | None = None):
        if not images:
            raise ValueError("ImageDataset needs at least one image")
        self.images = images
        self.seed = seed
        self.crop = crop

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        img = self.images[index]
        pixels = img.pixels
        if self.crop is not None:
            pixels = center_crop(pixels, self.crop)
        return {
            "target": _to_tensor(pixels),
            "seed": self.seed,
            "index": index,
            "name": img.name,
        }
