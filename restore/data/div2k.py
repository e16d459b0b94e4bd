"""DIV2K (Agustsson & Timofte, "NTIRE 2017 Challenge on Single Image Super-Resolution: Dataset and
Study", CVPRW 2017): 800 training and 100 validation 2K photographs, with bicubic LR files.

On-disk layout, as the official zips unpack (``python -m restore.data.download div2k``)::

    root/DIV2K_train_HR/0001.png ... 0800.png
    root/DIV2K_valid_HR/0801.png ... 0900.png
    root/DIV2K_train_LR_bicubic/X{2,3,4}/0001x{s}.png ...
    root/DIV2K_valid_LR_bicubic/X{2,3,4}/0801x{s}.png ...

A layout (:mod:`restore.data.layouts`): training crops HR patches and, with ``lr_source: files``,
the aligned patch of the LR file; with ``lr_source: bicubic`` only HR is read and the task makes
the LR image on the device. Images are decoded once into memory-mapped ``.npy`` files
(``data.cache: true``, ``data.cache_dir``, default ``root/.cache/restore``), so an epoch never
decodes a PNG again (see ``benchmarks/div2k_cache.py`` for the speed-up).

Validation uses images 0801-0810 (EDSR's convention, ``val_range``), the test set "DIV2K" the
whole validation split 0801-0900; published DIV2K numbers are on that split (the test split's HR
images were never released). More benchmark folders (Set5, Set14, ...) are read as test sets
(``data.test_sets``) through :mod:`restore.data.sr_benchmark`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from restore.data.example import Example, Splits
from restore.utils.errors import ConfigError, DataError

TRAIN_RANGE = (1, 800)
VALID_RANGE = (801, 900)
LAYOUT = (
    "expected the official DIV2K layout: DIV2K_train_HR/0001.png..0800.png, "
    "DIV2K_valid_HR/0801.png..0900.png and, for lr_source=files, "
    "DIV2K_{train,valid}_LR_bicubic/X{s}/NNNNx{s}.png; get it with "
    "`python -m restore.data.download div2k --root <root>`"
)
_HR_NAME = re.compile(r"^(\d{4})\.png$")


def _hr_files(folder: Path, lo: int, hi: int) -> dict[int, Path]:
    if not folder.is_dir():
        raise DataError(f"DIV2K folder {folder} does not exist: {LAYOUT}")
    files: dict[int, Path] = {}
    for path in folder.iterdir():
        m = _HR_NAME.match(path.name)
        if m:
            files[int(m.group(1))] = path
    if not files:
        raise DataError(f"DIV2K folder {folder} holds no NNNN.png images: {LAYOUT}")
    outside = sorted(i for i in files if not lo <= i <= hi)
    if outside:
        raise DataError(
            f"DIV2K folder {folder} holds images outside the official {lo:04d}-{hi:04d} split "
            f"(e.g. {outside[0]:04d}.png): {LAYOUT}"
        )
    return dict(sorted(files.items()))


def _pairs(root: Path, split: str, lo: int, hi: int, scale: int, lr_source: str) -> list[Example]:
    hr = _hr_files(root / f"DIV2K_{split}_HR", lo, hi)
    if lr_source == "bicubic":
        return [Example(f"{i:04d}", path) for i, path in hr.items()]
    lr_dir = root / f"DIV2K_{split}_LR_bicubic" / f"X{scale}"
    if not lr_dir.is_dir():
        raise DataError(
            f"DIV2K LR folder {lr_dir} does not exist: download the X{scale} LR files or set "
            f"data.layout.lr_source=bicubic to make LR images on the device; {LAYOUT}"
        )
    lr = {i: lr_dir / f"{i:04d}x{scale}.png" for i in hr}
    missing = [p.name for p in lr.values() if not p.is_file()]
    if missing:
        raise DataError(
            f"DIV2K LR folder {lr_dir} lacks {len(missing)} file(s) for the HR images of "
            f"DIV2K_{split}_HR, e.g. {', '.join(missing[:5])}"
        )
    return [Example(f"{i:04d}", hr[i], lr[i]) for i in hr]


def div2k(
    root: str | Path,
    scale: int = 2,
    lr_source: str = "files",
    val_range: Sequence[int] | None = (801, 810),
) -> Splits:
    """DIV2K for super-resolution: HR targets (+ their LR files as inputs, ``lr_source: files``).

    ``scale`` must equal ``data.scale`` (the YAML interpolates it); the test set is "DIV2K".
    """
    if scale not in (2, 3, 4):
        raise ConfigError(f"data.scale must be 2, 3 or 4 for DIV2K, got {scale}")
    if lr_source not in ("files", "bicubic"):
        raise ConfigError(f"data.layout.lr_source must be 'files' or 'bicubic', got {lr_source!r}")
    if val_range is not None and len(val_range) != 2:
        raise ConfigError(f"data.layout.val_range must be [first, last], got {list(val_range)}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data.layout.root {root} does not exist: {LAYOUT}")
    valid = _pairs(root, "valid", *VALID_RANGE, scale, lr_source)
    val = []
    if val_range is not None:
        lo, hi = val_range
        val = [p for p in valid if lo <= int(p.name) <= hi]
        if not val:
            raise DataError(
                f"no DIV2K validation image in data.layout.val_range={list(val_range)} under "
                f"{root / 'DIV2K_valid_HR'}"
            )
    train = _pairs(root, "train", *TRAIN_RANGE, scale, lr_source)
    return Splits(train, val, {"DIV2K": valid}, root)


__all__ = ["TRAIN_RANGE", "VALID_RANGE", "div2k"]
