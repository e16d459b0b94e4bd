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

Both are layouts (:mod:`restore.data.layouts`). Neither dataset has a validation split:
validation uses ``val_count`` test pairs spread evenly over the test list (center-cropped to
``data.val_crop``), as the authors' training code monitors the test set; the test set reports
every test pair. Frames are decoded once into a memory-mapped disk cache (``data.cache: true``,
``data.cache_dir``, default ``root/.cache/restore``): GoPro's training set alone is 11.6 GB
decoded.
"""

from __future__ import annotations

from pathlib import Path

from restore.data.example import Example, Splits
from restore.data.layouts import pair_folders, spread
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


def _deblur_splits(
    root: Path,
    train: list[Example] | None,
    test: list[Example] | None,
    name: str,
    val_count: int,
    layout_help: str,
) -> Splits:
    if train is None and test is None:
        raise DataError(f"{root} holds neither a train nor a test split: {layout_help}")
    test = test or []
    return Splits(train or [], spread(test, val_count), {name: test} if test else {}, root)


def gopro(root: str | Path, blur: str = "blur", val_count: int = 10) -> Splits:
    """GoPro deblurring pairs (``blur``: "blur" or "blur_gamma"), paired by file name per
    sequence; names are ``<sequence>/<frame>``; the test set is "GoPro". ``root`` is the
    ``GOPRO_Large`` folder (or the folder holding it)."""
    if blur not in ("blur", "blur_gamma"):
        raise ConfigError(f"data.layout.blur must be 'blur' or 'blur_gamma', got {blur!r}")
    root = Path(root)
    dataset_root = root / "GOPRO_Large" if (root / "GOPRO_Large").is_dir() else root

    def split_pairs(split: str) -> list[Example] | None:
        folder = dataset_root / split
        if not folder.is_dir():
            return None
        sequences = sorted(p for p in folder.iterdir() if p.is_dir())
        if not sequences:
            raise DataError(f"GoPro split {folder} holds no sequence folders: {GOPRO_LAYOUT}")
        pairs = []
        for seq in sequences:
            for sub in (blur, "sharp"):
                if not (seq / sub).is_dir():
                    raise DataError(f"GoPro sequence {seq} has no {sub}/ folder: {GOPRO_LAYOUT}")
            pairs += pair_folders(seq / blur, seq / "sharp", prefix=f"{seq.name}/")
        return pairs

    if not root.is_dir():
        raise DataError(f"data.layout.root {root} does not exist: {GOPRO_LAYOUT}")
    return _deblur_splits(
        root, split_pairs("train"), split_pairs("test"), "GoPro", val_count, GOPRO_LAYOUT
    )


def read_pair_list(list_file: Path, root: Path) -> list[Example]:
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
    pairs = [
        Example(n, root / gt, root / blur) for n, (gt, blur) in zip(names, entries, strict=True)
    ]
    missing = [str(p) for pair in pairs for p in (pair.target, pair.input) if not p.is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} file(s) listed in {list_file} do not exist, e.g. "
            f"{', '.join(missing[:3])}: the paths are read relative to {root}"
        )
    return pairs


def realblur(root: str | Path, variant: str = "J", val_count: int = 10) -> Splits:
    """RealBlur-J (``variant: J``, camera JPEGs) or RealBlur-R (``variant: R``, raw), read
    through the published ``RealBlur_{variant}_{train,test}_list.txt`` files under ``root``;
    the test set is "RealBlur_J" (or "_R")."""
    if variant not in ("J", "R"):
        raise ConfigError(f"data.layout.variant must be 'J' or 'R', got {variant!r}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data.layout.root {root} does not exist: {REALBLUR_LAYOUT}")

    def split_pairs(split: str) -> list[Example] | None:
        list_file = root / f"RealBlur_{variant}_{split}_list.txt"
        return read_pair_list(list_file, root) if list_file.is_file() else None

    name = f"RealBlur_{variant}"
    train, test = split_pairs("train"), split_pairs("test")
    return _deblur_splits(root, train, test, name, val_count, REALBLUR_LAYOUT)


__all__ = ["gopro", "read_pair_list", "realblur"]
