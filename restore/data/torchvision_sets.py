"""Small-image classification sets used as clean images for denoising: STL-10 and CIFAR-100.

* STL-10 (Coates, Lee & Ng, "An Analysis of Single-Layer Networks in Unsupervised Feature
  Learning", AISTATS 2011): 96x96 color photos; ``train`` 5000, ``test`` 8000, ``unlabeled``
  100000, in the binary format ``root/stl10_binary/{train,test,unlabeled}_X.bin``.
* CIFAR-100 (Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009): 32x32
  color photos, 50000 train and 10000 test, as pickles ``root/cifar-100-python/{train,test,meta}``.

Both are read with torchvision's own dataset classes (``download=False``; ``data.download=true``
fetches the archives with :mod:`restore.data.download`, resumable and md5-checked). The images
are clean: the task adds the noise on the device. Validation holds out ``val_count`` images of
the training split (chosen with ``split_seed``); the test set is the official test split (its
first ``test_count`` images when set).

About torchvision's checksums: its readers check the md5 of *every* file of the dataset on
construction (for STL-10 that includes the 2.7 GB ``unlabeled_X.bin`` even to read the test
split) and answer "Dataset not found or corrupted" without saying which file. The subclasses
below override only that integrity check: they check the files the requested split reads,
against torchvision's published md5 sums when ``verify_md5`` is true (the default), or their
presence only when it is false. The tests write tiny files in the real formats, which cannot have
the official checksums, so they set ``verify_md5=False`` (and check that ``True`` rejects them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader
from torchvision.datasets import CIFAR100, STL10
from torchvision.datasets.utils import check_md5

from restore.data.datamodules import RestorationDataModule
from restore.data.datasets import Image, ImageDataset
from restore.data.download import fetch
from restore.data.io import to_channels
from restore.utils.errors import ConfigError, DataError


def _check_files(folder: Path, files: list[tuple[str, str]], verify_md5: bool, how: str) -> None:
    """Raise DataError naming missing files, or the first whose md5 differs."""
    missing = [name for name, _ in files if not (folder / name).is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} dataset file(s) not found in {folder}: looked for "
            f"{', '.join(str(folder / n) for n in missing)}. {how}"
        )
    if verify_md5:
        for name, md5 in files:
            if md5 and not check_md5(folder / name, md5):
                raise DataError(
                    f"{folder / name} does not have the published md5 {md5} (corrupted or "
                    f"truncated): delete it and download again. {how}"
                )


class CheckedSTL10(STL10):
    """torchvision's STL10 reader whose integrity check covers only the split's files."""

    def __init__(self, root: str | Path, split: str, verify_md5: bool = True, how: str = ""):
        self.verify_md5 = verify_md5
        self.how = how
        self._split_for_check = split
        super().__init__(str(root), split=split, download=False)

    def split_files(self) -> list[tuple[str, str]]:
        train_x, train_y, unlabeled = self.train_list
        return {
            "train": [train_x, train_y],
            "unlabeled": [unlabeled],
            "train+unlabeled": [train_x, train_y, unlabeled],
            "test": list(self.test_list),
        }[self._split_for_check]

    def _check_integrity(self) -> bool:
        folder = Path(self.root) / self.base_folder
        _check_files(folder, self.split_files(), self.verify_md5, self.how)
        return True


class CheckedCIFAR100(CIFAR100):
    """torchvision's CIFAR100 reader whose integrity check covers only the split's files."""

    def __init__(self, root: str | Path, train: bool, verify_md5: bool = True, how: str = ""):
        self.verify_md5 = verify_md5
        self.how = how
        self._train_for_check = train
        if not verify_md5:  # ``_load_meta`` checks the meta file's md5 on its own
            self.meta = {**self.meta, "md5": None}
        super().__init__(str(root), train=train, download=False)

    def _check_integrity(self) -> bool:
        files = list(self.train_list if self._train_for_check else self.test_list)
        files.append((self.meta["filename"], self.meta["md5"]))
        _check_files(Path(self.root) / self.base_folder, files, self.verify_md5, self.how)
        return True


class TorchvisionDataModule(RestorationDataModule):
    """Clean images of a torchvision dataset held in memory (uint8), split by image."""

    DATASET = ""  # key of restore.data.download.DATASETS

    def __init__(
        self,
        root: str,
        val_count: int = 500,
        test_count: int | None = None,
        split_seed: int = 0,
        download: bool = False,
        verify_md5: bool = True,
        eval_batch_size: int = 256,
        **kwargs,
    ):
        kwargs.setdefault("channels", 3)
        super().__init__(**kwargs)
        self.root = Path(root)
        self.val_count = val_count
        self.test_count = test_count
        self.split_seed = split_seed
        self.download = download
        self.verify_md5 = verify_md5
        self.eval_batch_size = eval_batch_size

    @property
    def how_to_get(self) -> str:
        return (
            f"Get the dataset with data.download=true or "
            f"`python -m restore.data.download {self.DATASET} --root {self.root}`"
        )

    def read_split(self, split: str) -> np.ndarray:
        """All images of ``split`` as an (N, H, W, 3) uint8 array."""
        raise NotImplementedError

    @property
    def train_split(self) -> str:
        return "train"

    def prepare_data(self) -> None:
        if self.download:
            fetch(self.DATASET, self.root)

    def _images(self, pixels: np.ndarray, split: str, indices) -> list[Image]:
        return [Image(f"{split}_{i:05d}", to_channels(pixels[i], self.channels)) for i in indices]

    def load_splits(self):
        if self.download:
            fetch(self.DATASET, self.root)
        train = self.read_split(self.train_split)
        test = self.read_split("test")
        if self.val_count >= len(train):
            raise ConfigError(
                f"data.val_count={self.val_count} leaves no training image of the "
                f"{len(train)} in {self.train_split!r}"
            )
        order = np.random.RandomState(self.split_seed).permutation(len(train))
        val_idx = np.sort(order[: self.val_count])
        train_idx = np.sort(order[self.val_count :])
        n_test = len(test) if self.test_count is None else min(self.test_count, len(test))
        return (
            self._images(train, self.train_split, train_idx),
            self._images(train, self.train_split, val_idx),
            self._images(test, "test", range(n_test)),
        )

    def _eval_loader(self, images: list[Image], crop: int | None) -> DataLoader:
        dataset = ImageDataset(images, self.eval_seed, crop)
        sizes = {im.pixels.shape[:2] for im in images}
        # small images of one size: evaluate in batches (the base class uses batch size 1)
        return self._loader(dataset, self.eval_batch_size if len(sizes) == 1 else 1)

    def val_dataloader(self):
        if not self.val_images:
            return []
        return self._eval_loader(self.val_images, self.val_crop)

    def test_dataloader(self) -> list[DataLoader]:
        if not self.test_images:
            raise DataError(f"{type(self).__name__} has no test images")
        return [self._eval_loader(images, None) for images in self.test_images.values()]


class STL10DataModule(TorchvisionDataModule):
    """STL-10's 96x96 photos; ``train_split``: "train" (5000), "unlabeled" (100000, 2.7 GB in
    memory) or "train+unlabeled"; the test set "STL10" is the 8000 test images."""

    DATASET = "stl10"

    def __init__(self, root: str, train_split: str = "train", **kwargs):
        if train_split not in ("train", "unlabeled", "train+unlabeled"):
            raise ConfigError(
                f"data.train_split must be train, unlabeled or train+unlabeled, got {train_split!r}"
            )
        kwargs.setdefault("default_test_name", "STL10")
        kwargs.setdefault("patch_size", 64)
        super().__init__(root, **kwargs)
        self._train_split = train_split

    @property
    def train_split(self) -> str:
        return self._train_split

    def read_split(self, split: str) -> np.ndarray:
        ds = CheckedSTL10(self.root, split, self.verify_md5, self.how_to_get)
        return np.ascontiguousarray(ds.data.transpose(0, 2, 3, 1))  # (N, 3, H, W) -> NHWC


class CIFAR100DataModule(TorchvisionDataModule):
    """CIFAR-100's 32x32 photos: 50000 train (less ``val_count``), the test set "CIFAR100" is
    the 10000 test images."""

    DATASET = "cifar100"

    def __init__(self, root: str, **kwargs):
        kwargs.setdefault("default_test_name", "CIFAR100")
        kwargs.setdefault("patch_size", 32)
        super().__init__(root, **kwargs)

    def read_split(self, split: str) -> np.ndarray:
        ds = CheckedCIFAR100(self.root, split == "train", self.verify_md5, self.how_to_get)
        return np.ascontiguousarray(ds.data)  # already NHWC


__all__ = [
    "CIFAR100DataModule",
    "CheckedCIFAR100",
    "CheckedSTL10",
    "STL10DataModule",
    "TorchvisionDataModule",
]
