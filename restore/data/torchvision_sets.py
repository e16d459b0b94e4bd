"""Small-image classification sets used as clean images for denoising: STL-10 and CIFAR-100.

* STL-10 (Coates, Lee & Ng, "An Analysis of Single-Layer Networks in Unsupervised Feature
  Learning", AISTATS 2011): 96x96 color photos; ``train`` 5000, ``test`` 8000, ``unlabeled``
  100000, in the binary format ``root/stl10_binary/{train,test,unlabeled}_X.bin``.
* CIFAR-100 (Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009): 32x32
  color photos, 50000 train and 10000 test, as pickles ``root/cifar-100-python/{train,test,meta}``.

Both are layouts (:mod:`restore.data.layouts`) read with torchvision's own dataset classes
(``download=False``; ``data.layout.download=true`` fetches the archives with
:mod:`restore.data.download`, resumable and md5-checked). The images are clean: the task adds the
noise on the device. Validation holds out ``val_count`` images of the training split (chosen with
``split_seed``); the test set is the official test split (its first ``test_count`` images when
set).

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
from torchvision.datasets import CIFAR100, STL10
from torchvision.datasets.utils import check_md5

from restore.data.download import fetch
from restore.data.example import Example, Splits
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


def _how_to_get(dataset: str, root: Path) -> str:
    return (
        f"Get the dataset with data.layout.download=true or "
        f"`python -m restore.data.download {dataset} --root {root}`"
    )


def _held_out(
    train: np.ndarray,
    test: np.ndarray,
    train_split: str,
    name: str,
    val_count: int,
    test_count: int | None,
    split_seed: int,
) -> Splits:
    if val_count >= len(train):
        raise ConfigError(
            f"data.layout.val_count={val_count} leaves no training image of the "
            f"{len(train)} in {train_split!r}"
        )
    order = np.random.RandomState(split_seed).permutation(len(train))
    val_idx, train_idx = np.sort(order[:val_count]), np.sort(order[val_count:])
    n_test = len(test) if test_count is None else min(test_count, len(test))

    def examples(pixels: np.ndarray, split: str, indices) -> list[Example]:
        return [Example(f"{split}_{i:05d}", pixels[i]) for i in indices]

    return Splits(
        examples(train, train_split, train_idx),
        examples(train, train_split, val_idx),
        {name: examples(test, "test", range(n_test))},
    )


def stl10(
    root: str | Path,
    train_split: str = "train",
    val_count: int = 500,
    test_count: int | None = None,
    split_seed: int = 0,
    download: bool = False,
    verify_md5: bool = True,
) -> Splits:
    """STL-10's 96x96 photos; ``train_split``: "train" (5000), "unlabeled" (100000, 2.7 GB in
    memory) or "train+unlabeled"; the test set "STL10" is the 8000 test images."""
    if train_split not in ("train", "unlabeled", "train+unlabeled"):
        raise ConfigError(
            "data.layout.train_split must be train, unlabeled or train+unlabeled, got "
            f"{train_split!r}"
        )
    root = Path(root)
    if download:
        fetch("stl10", root)
    how = _how_to_get("stl10", root)

    def read(split: str) -> np.ndarray:
        ds = CheckedSTL10(root, split, verify_md5, how)
        return np.ascontiguousarray(ds.data.transpose(0, 2, 3, 1))  # (N, 3, H, W) -> NHWC

    train, test = read(train_split), read("test")
    return _held_out(train, test, train_split, "STL10", val_count, test_count, split_seed)


def cifar100(
    root: str | Path,
    val_count: int = 500,
    test_count: int | None = None,
    split_seed: int = 0,
    download: bool = False,
    verify_md5: bool = True,
) -> Splits:
    """CIFAR-100's 32x32 photos: 50000 train (less ``val_count``); the test set "CIFAR100" is
    the 10000 test images."""
    root = Path(root)
    if download:
        fetch("cifar100", root)
    how = _how_to_get("cifar100", root)

    def read(train: bool) -> np.ndarray:
        return np.ascontiguousarray(CheckedCIFAR100(root, train, verify_md5, how).data)  # NHWC

    train, test = read(True), read(False)
    return _held_out(train, test, "train", "CIFAR100", val_count, test_count, split_seed)


__all__ = ["CheckedCIFAR100", "CheckedSTL10", "cifar100", "stl10"]
