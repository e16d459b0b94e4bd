"""Training patches drawn on the device, from images kept there (``data.resident: true``).

:class:`~restore.data.datasets.PatchDataset` crops and augments one patch at a time in loader
workers, and every batch then travels to the device. For a small network on a GPU that path
likely bounds the step: the DnCNN-S paper recipe ran 14 ms a step with 12 workers on an H100
(experiments/dncnn_s25_paper), far above its arithmetic. Here the training images (with their
rescaled copies) are decoded once into one flat uint8 buffer on the device, and a whole batch is
one gather: the random crop and the dihedral transform are folded into the gathered indices.

The batches follow PatchDataset's distribution (an example with probability proportional to its
area, a uniform crop, one of the 8 flips/rotations uniformly), drawn from a generator of their
own on the device, seeded per process (the datamodule gives each DDP rank its own seed, as
Lightning's worker seeding does for the worker loader): not PatchDataset's numbers. Written here
because no library samples patches on the device from images of different sizes (torchvision's
and kornia's crops work on one batch tensor).

Clean images only (the task degrades them on the device); no paired input, no SR scale.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

from restore.data.batch import Batch
from restore.data.datasets import PatchDataset, check_patch_size, dihedral
from restore.utils.errors import ConfigError


def dihedral_maps(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each output pixel of the 8 dihedral transforms of a ``size`` x ``size`` patch comes
    from: ``rows[d, i, j], cols[d, i, j]`` is the source of ``dihedral(patch, d)[i, j]``
    (the transforms of :func:`~restore.data.datasets.dihedral`, applied to the coordinates).

    >>> rows, cols = dihedral_maps(2)
    >>> rows[1].tolist(), cols[1].tolist()  # one quarter turn counter-clockwise
    ([[0, 1], [0, 1]], [[1, 1], [0, 0]])
    """
    r, c = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    grid = np.stack([r, c], axis=-1)  # (H, W, 2): the transforms move the coordinates
    maps = np.stack([np.ascontiguousarray(dihedral(grid, d)) for d in range(8)])
    return torch.from_numpy(maps[..., 0]).long(), torch.from_numpy(maps[..., 1]).long()


class ResidentPatches(Dataset):
    """Batches of random training patches, each drawn in one gather on ``device``.

    Built from the :class:`PatchDataset` the datamodule would use (its examples, rescaled
    copies, patch size, augmentation and area weights); item ``i`` is a whole :class:`Batch` of
    uint8 targets (B, C, P, P) on ``device``, ``batch_size`` patches except a smaller last one,
    so that an "epoch" holds ``patches_per_epoch`` patches as the worker loader's does.
    Use it with ``DataLoader(dataset, batch_size=None)``.
    """

    def __init__(
        self, patches: PatchDataset, batch_size: int, device: torch.device | str, seed: int = 0
    ):
        if patches.scale != 1 or any(ex.input is not None for ex in patches.examples):
            raise ConfigError(
                "data.resident=true draws patches of clean images: this dataset has inputs "
                "(pairs or SR): set data.resident=false"
            )
        device = torch.device(device)
        images = [patches.store(ex.target) for ex in patches.examples]
        channels = {img.shape[2] for img in images}
        if len(channels) != 1:
            raise ConfigError(f"training images with {sorted(channels)} channels: expected one")
        self.channels = channels.pop()
        self.sides = patches.sides  # the images' smaller sides check a new patch size (reshape)
        self.patch_size = patches.patch_size
        self.batch_size = int(batch_size)
        self.patches_per_epoch = patches.patches_per_epoch
        self.batches = math.ceil(self.patches_per_epoch / self.batch_size)
        self._reshaped = False
        self.augment = patches.augment
        self.device = device
        sizes = torch.tensor([img.shape[:2] for img in images], dtype=torch.long)
        numels = sizes[:, 0] * sizes[:, 1] * self.channels
        self.offsets = (torch.cumsum(numels, 0) - numels).to(device)
        self.heights, self.widths = sizes[:, 0].to(device), sizes[:, 1].to(device)
        flat = [torch.from_numpy(np.ascontiguousarray(img)).reshape(-1) for img in images]
        self.pixels = torch.cat(flat).to(device)
        self.cumulative = torch.from_numpy(patches.cumulative).to(device)
        rows, cols = dihedral_maps(self.patch_size)
        self.rows, self.cols = rows.to(device), cols.to(device)
        self.channel_index = torch.arange(self.channels, device=device).view(1, -1, 1, 1)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed))

    def __len__(self) -> int:
        return self.batches

    def __getitem__(self, index: int) -> Batch:
        if not 0 <= index < len(self):
            raise IndexError(index)
        n = self.batch_size
        if not self._reshaped:
            n = min(n, self.patches_per_epoch - index * self.batch_size)
        return Batch(target=self.draw(n))

    def reshape(self, patch_size: int, batch_size: int) -> None:
        """Draw ``batch_size`` patches of ``patch_size`` per batch from the next batch on (a
        patch-size schedule: :class:`~restore.callbacks.PatchSchedule`). An epoch keeps its
        number of batches, every one of them full, so validation keeps its cadence in steps.

        >>> import numpy as np
        >>> from restore.data import Example, ImageStore, PatchDataset
        >>> image = np.zeros((20, 30, 1), np.uint8)
        >>> store = ImageStore(1, "memory")
        >>> patches = ResidentPatches(PatchDataset([Example("a", image)], store, 8, 100), 16, "cpu")
        >>> patches.reshape(16, 4)
        >>> len(patches), patches[6].target.shape
        (7, torch.Size([4, 1, 16, 16]))
        """
        check_patch_size(patch_size, self.sides, key="patch_size")
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        self.patch_size, self.batch_size, self._reshaped = int(patch_size), int(batch_size), True
        rows, cols = dihedral_maps(self.patch_size)
        self.rows, self.cols = rows.to(self.device), cols.to(self.device)

    def draw(self, n: int) -> torch.Tensor:
        """``n`` random patches (n, C, P, P), uint8, on the device."""
        dev, p, g = self.device, self.patch_size, self.generator
        u = torch.rand(n, device=dev, dtype=torch.float64, generator=g)
        k = torch.searchsorted(self.cumulative, u).clamp_(max=len(self.cumulative) - 1)
        h, w = self.heights[k], self.widths[k]
        top = (torch.rand(n, device=dev, dtype=torch.float64, generator=g) * (h - p + 1)).long()
        left = (torch.rand(n, device=dev, dtype=torch.float64, generator=g) * (w - p + 1)).long()
        if self.augment:
            d = torch.randint(0, 8, (n,), device=dev, generator=g)
        else:
            d = torch.zeros(n, dtype=torch.long, device=dev)
        r = top.view(-1, 1, 1) + self.rows[d]  # (n, P, P) source rows in the image
        c = left.view(-1, 1, 1) + self.cols[d]
        pixel = self.offsets[k].view(-1, 1, 1) + (r * w.view(-1, 1, 1) + c) * self.channels
        return self.pixels[pixel.unsqueeze(1) + self.channel_index]  # HWC buffer -> (n, C, P, P)


__all__ = ["ResidentPatches", "dihedral_maps"]
