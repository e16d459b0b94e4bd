"""Real motion-blur datasets: pairs of a blurred photograph and its sharp ground truth.

* GoPro (Nah, Kim & Lee, "Deep Multi-scale Convolutional Neural Network for Dynamic Scene
  Deblurring", CVPR 2017): 3214 pairs of 1280x720 frames (2103 train, 1111 test) in 33
  sequences; the blurred frame averages 7-13 sharp frames of a 240 fps video, either directly
  (``blur``) or in linear light (``blur_gamma``, gamma 2.2)::

      GOPRO_Large/{train,test}/<sequence>/{blur,blur_gamma,sharp}/NNNNNN.png

* RealBlur (Rim, Lee, Won & Cho, "Real-World Blur Dataset for Learning and Benchmarking
  Deblurring Algorithms", ECCV 2020): 4738 pairs captured by a dual-camera rig, as camera JPEGs
  (RealBlur-J) or processed raw images (RealBlur-R); the published list files give each pair
  as ``gt_path blur_path`` relative to the dataset root::

      root/RealBlur_J_train_list.txt, root/RealBlur_J_test_list.txt (and _R_)
      root/RealBlur-J_ECC_IMCORR_centroid_itensity_ref/scene001/{gt,blur}/{gt,blur}_1.png ...

Neither dataset has a validation split: validation uses ``val_count`` test pairs spread evenly
over the test list (center-cropped to ``val_crop``), as the authors' training code monitors the
test set; the test set reports every test pair. Frames are decoded once into a memory-mapped
disk cache (``cache_dir``, default ``root/.cache/restore``): GoPro's training set alone is 11.6 GB
decoded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from restore.data.paired import Pair, PairedDataModule, pair_folders
from restore.utils.errors import ConfigError, DataError

GOPRO_LAYOUT = (
    "expected GOPRO_Large/{train,test}/<sequence>/{blur,blur_gamma,sharp}/*.png "
    "(download GOPRO_Large.zip from https://seungjunnah.github.io/Datasets/gopro)"
)
REALBLUR_LAYOUT = (
    "expected root/RealBlur_{J,R}_{train,test}_list.txt whose lines are 'gt_path blur_path' "
    "relative to root (download RealBlur.tar.gz from "
    "http://cg.postech.ac.kr/research/realblur/)"
)


def spread(items: list, count: int) -> list:
    """``count`` items evenly spaced over ``items`` (all when there are fewer)."""
    if count <= 0 or not items:
        return []
    if count >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


class DeblurDataModule(PairedDataModule):
    """Shared by GoPro and RealBlur: train/test pair lists, validation = spread test pairs."""

    def __init__(
        self,
        root: str,
        val_count: int = 10,
        cache: bool | str = True,
        cache_dir: str | None = None,
        **kwargs,
    ):
        kwargs.setdefault("channels", 3)
        kwargs.setdefault("patch_size", 256)
        kwargs.setdefault("batch_size", 8)
        super().__init__(cache=cache, cache_dir=cache_dir, scale=1, **kwargs)
        self.root = Path(root)
        self.val_count = val_count

    def default_cache_dir(self) -> Path:
        return self.root / ".cache" / "restore"

    def store_root(self) -> Path:
        return self.root

    def split_pairs(self, split: str) -> list[Pair] | None:
        """The pairs of ``split`` ("train" or "test"); None when that split is absent."""
        raise NotImplementedError

    def list_pairs(self) -> dict[str, list[Pair]]:
        train, test = self.split_pairs("train"), self.split_pairs("test")
        if train is None and test is None:
            raise DataError(f"{self.root} holds neither a train nor a test split: {self.LAYOUT}")
        test = test or []
        return {"train": train or [], "val": spread(test, self.val_count), "test": test}


class GoProDataModule(DeblurDataModule):
    """GoPro deblurring pairs (``blur``: "blur" or "blur_gamma"), paired by file name per
    sequence; names are ``<sequence>/<frame>``. ``root`` is the ``GOPRO_Large`` folder (or the
    folder holding it)."""

    LAYOUT = GOPRO_LAYOUT

    def __init__(self, root: str, blur: str = "blur", **kwargs):
        if blur not in ("blur", "blur_gamma"):
            raise ConfigError(f"data.blur must be 'blur' or 'blur_gamma', got {blur!r}")
        kwargs.setdefault("default_test_name", "GoPro")
        super().__init__(root, **kwargs)
        self.blur = blur

    @property
    def dataset_root(self) -> Path:
        nested = self.root / "GOPRO_Large"
        return nested if nested.is_dir() else self.root

    def split_pairs(self, split: str) -> list[Pair] | None:
        folder = self.dataset_root / split
        if not folder.is_dir():
            return None
        sequences = sorted(p for p in folder.iterdir() if p.is_dir())
        if not sequences:
            raise DataError(f"GoPro split {folder} holds no sequence folders: {GOPRO_LAYOUT}")
        pairs = []
        for seq in sequences:
            for sub in (self.blur, "sharp"):
                if not (seq / sub).is_dir():
                    raise DataError(f"GoPro sequence {seq} has no {sub}/ folder: {GOPRO_LAYOUT}")
            pairs += pair_folders(seq / self.blur, seq / "sharp", prefix=f"{seq.name}/")
        return pairs


def read_pair_list(list_file: Path, root: Path) -> list[Pair]:
    """Read a RealBlur list file: one ``gt_path blur_path`` pair per line, relative to ``root``."""
    if not list_file.is_file():
        raise DataError(f"RealBlur list file {list_file} does not exist: {REALBLUR_LAYOUT}")
    entries = []
    for number, line in enumerate(list_file.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise DataError(
                f"{list_file} line {number}: expected 'gt_path blur_path', got {line.strip()!r}"
            )
        entries.append((Path(fields[0]), Path(fields[1])))
    if not entries:
        raise DataError(f"RealBlur list file {list_file} lists no pairs: {REALBLUR_LAYOUT}")
    # short names "scene230/blur_1" when unique, the whole relative path otherwise
    short = [f"{b.parts[-3]}/{b.stem}" if len(b.parts) >= 3 else b.stem for _, b in entries]
    names = short if len(set(short)) == len(short) else [str(b.with_suffix("")) for _, b in entries]
    pairs = [Pair(n, root / gt, root / blur) for n, (gt, blur) in zip(names, entries, strict=True)]
    missing = [str(p) for pair in pairs for p in (pair.target, pair.input) if not p.is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} file(s) listed in {list_file} do not exist, e.g. "
            f"{', '.join(missing[:3])}: the paths are read relative to {root}"
        )
    return pairs


class RealBlurDataModule(DeblurDataModule):
    """RealBlur-J (``variant: J``, camera JPEGs) or RealBlur-R (``variant: R``, raw), read
    through the published ``RealBlur_{variant}_{train,test}_list.txt`` files under ``root``."""

    LAYOUT = REALBLUR_LAYOUT

    def __init__(self, root: str, variant: str = "J", **kwargs):
        if variant not in ("J", "R"):
            raise ConfigError(f"data.variant must be 'J' or 'R', got {variant!r}")
        kwargs.setdefault("default_test_name", f"RealBlur_{variant}")
        super().__init__(root, **kwargs)
        self.variant = variant

    def split_pairs(self, split: str) -> list[Pair] | None:
        if not self.root.is_dir():
            raise DataError(f"data.root {self.root} does not exist: {REALBLUR_LAYOUT}")
        list_file = self.root / f"RealBlur_{self.variant}_{split}_list.txt"
        return read_pair_list(list_file, self.root) if list_file.is_file() else None


__all__ = ["DeblurDataModule", "GoProDataModule", "RealBlurDataModule", "read_pair_list", "spread"]
