"""LightningDataModules for restoration: patches to train on, whole images to score.

A datamodule provides clean images only; the degraded inputs are made on the device by the task
(see ``restore.tasks``), so that any degradation can be paired with any dataset. Every test set is
reported under its own name (``test/<name>/psnr``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from restore.data.batch import collate_batch
from restore.data.datasets import Image, ImageDataset, PatchDataset
from restore.data.io import DataError, list_images, read_image, to_channels


def read_folder(folder: str | Path, channels: int, what: str = "image folder") -> list[Image]:
    """Decode every image of ``folder`` once."""
    return [Image(p.stem, read_image(p, channels)) for p in list_images(folder, what)]


class RestorationDataModule(L.LightningDataModule):
    """Training patches, validation images and named test sets, all decoded once into memory.

    Subclasses implement ``load_splits()`` returning the (train, val, test) image lists; extra
    benchmark folders given in ``test_sets`` (name -> folder) are added as test sets of their own.
    """

    def __init__(
        self,
        channels: int = 1,
        patch_size: int = 40,
        batch_size: int = 64,
        patches_per_epoch: int = 6400,
        scales: tuple[float, ...] = (1.0,),
        augment: bool = True,
        val_crop: int | None = 256,
        test_crop: int | None = None,
        eval_seed: int = 0,
        num_workers: int = 0,
        test_sets: Mapping[str, str] | None = None,
        default_test_name: str = "test",
    ):
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"data.channels must be 1 (gray) or 3 (color), got {channels}")
        self.channels = channels
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.patches_per_epoch = patches_per_epoch
        self.scales = tuple(scales)
        self.augment = augment
        self.val_crop = val_crop
        self.test_crop = test_crop
        self.eval_seed = eval_seed
        self.num_workers = num_workers
        self.extra_test_sets = dict(test_sets or {})
        self.default_test_name = default_test_name
        self._loaded = False

    # -- what subclasses provide -------------------------------------------------------------
    def load_splits(self) -> tuple[list[Image], list[Image], list[Image]]:
        raise NotImplementedError

    # -- lightning hooks ---------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self._loaded:
            return
        self.train_images, self.val_images, test_images = self.load_splits()
        self.test_images: dict[str, list[Image]] = {}
        if test_images:
            self.test_images[self.default_test_name] = test_images
        for name, folder in self.extra_test_sets.items():
            self.test_images[name] = read_folder(folder, self.channels, f"test set {name!r} folder")
        self._loaded = True

    @property
    def test_set_names(self) -> list[str]:
        self.setup()
        return list(self.test_images)

    def _loader(self, dataset, batch_size: int, shuffle: bool = False) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            drop_last=False,
            collate_fn=collate_batch,
        )

    def train_dataloader(self) -> DataLoader:
        if not self.train_images:
            raise DataError(f"{type(self).__name__} has no training images")
        dataset = PatchDataset(
            self.train_images, self.patch_size, self.patches_per_epoch, self.augment, self.scales
        )
        return self._loader(dataset, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        if not self.val_images:
            return []
        dataset = ImageDataset(self.val_images, self.eval_seed, self.val_crop)
        same_size = self.val_crop is not None and all(
            min(im.pixels.shape[:2]) >= self.val_crop for im in self.val_images
        )
        return self._loader(dataset, len(dataset) if same_size else 1)

    def test_dataloader(self) -> list[DataLoader]:
        if not self.test_images:
            raise DataError(f"{type(self).__name__} has no test images: set data.test_sets")
        # Batch size 1: test images differ in size and are never resized; ``test_crop`` scores
        # the same centred crop of each (for per-image methods such as DIP on a CPU).
        return [
            self._loader(ImageDataset(images, self.eval_seed, self.test_crop), 1)
            for images in self.test_images.values()
        ]


# Natural photographs bundled inside scikit-image (no download), split by image, never by patch.
EMBEDDED_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "coffee", "rocket", "motorcycle", "brick", "grass", "gravel", "moon"),
    "val": ("coins", "hubble_deep_field"),
    "test": ("camera", "chelsea"),
}


def _skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


class EmbeddedDataModule(RestorationDataModule):
    """Real photographs that ship inside scikit-image: the default data, usable offline.

    8 training photos (~2.0 Mpixel in all), 2 validation and 2 test photos (``camera``, the
    cameraman, and ``chelsea``, the cat), each converted to the configured channels.
    """

    def __init__(self, splits: Mapping[str, list[str]] | None = None, **kwargs):
        kwargs.setdefault("default_test_name", "embedded")
        super().__init__(**kwargs)
        self.splits = {k: tuple(v) for k, v in (splits or EMBEDDED_SPLITS).items()}
        overlap = set(self.splits.get("train", ())) & (
            set(self.splits.get("val", ())) | set(self.splits.get("test", ()))
        )
        if overlap:
            raise ValueError(
                f"data.splits: images {sorted(overlap)} are both in train and val/test"
            )

    def load_splits(self):
        def load(names):
            return [Image(n, to_channels(_skimage_photo(n), self.channels)) for n in names]

        return load(self.splits["train"]), load(self.splits["val"]), load(self.splits["test"])


class FolderDataModule(RestorationDataModule):
    """The user's own images: ``root/{train,val,test}`` folders, or one folder split by ratio.

    With ``split: [0.8, 0.1, 0.1]`` the images of ``root`` itself are shuffled with ``split_seed``
    and divided by image. ``root: null`` gives a datamodule that holds only ``test_sets``.
    """

    def __init__(
        self,
        root: str | None = None,
        split: tuple[float, float, float] | None = None,
        split_seed: int = 0,
        **kwargs,
    ):
        kwargs.setdefault("default_test_name", "test")
        super().__init__(**kwargs)
        self.root = Path(root) if root is not None else None
        self.split = split
        self.split_seed = split_seed

    def load_splits(self):
        if self.root is None:
            return [], [], []
        if not self.root.is_dir():
            raise DataError(f"data.root {self.root} does not exist: check the path")
        if self.split is None:
            sub = {s: self.root / s for s in ("train", "val", "test")}
            if not sub["train"].is_dir():
                raise DataError(
                    f"data.root {self.root} has no train/ folder: lay it out as train/, val/, "
                    "test/ or set data.split=[0.8,0.1,0.1] to split the images of the folder itself"
                )
            return tuple(
                read_folder(folder, self.channels, f"{name} folder")
                if (name == "train" or folder.is_dir())
                else []
                for name, folder in sub.items()
            )
        if len(self.split) != 3 or abs(sum(self.split) - 1) > 1e-6:
            raise DataError(f"data.split must be three fractions summing to 1, got {self.split}")
        images = read_folder(self.root, self.channels)
        order = np.random.RandomState(self.split_seed).permutation(len(images))
        n_train = round(self.split[0] * len(images))
        n_val = round(self.split[1] * len(images))
        if n_train == 0:
            raise DataError(f"data.root {self.root} has too few images ({len(images)}) to split")
        picked = [images[i] for i in order]
        return picked[:n_train], picked[n_train : n_train + n_val], picked[n_train + n_val :]
