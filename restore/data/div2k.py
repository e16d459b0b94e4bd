"""DIV2K (Agustsson & Timofte, "NTIRE 2017 Challenge on Single Image Super-Resolution: Dataset and
Study", CVPRW 2017): 800 training and 100 validation 2K photographs, with bicubic LR files.

On-disk layout, as the official zips unpack (``python -m restore.data.download div2k``)::

    root/DIV2K_train_HR/0001.png ... 0800.png
    root/DIV2K_valid_HR/0801.png ... 0900.png
    root/DIV2K_train_LR_bicubic/X{2,3,4}/0001x{s}.png ...
    root/DIV2K_valid_LR_bicubic/X{2,3,4}/0801x{s}.png ...

Training crops HR patches and, with ``lr_source: files``, the aligned patch of the LR file; with
``lr_source: bicubic`` only HR is read and the task makes the LR image on the device. Images are
decoded once into memory-mapped ``.npy`` files (``cache_dir``, default ``root/.cache/restore``),
so an epoch never decodes a PNG again (see ``benchmarks/div2k_cache.py`` for the speed-up).

Validation uses images 0801-0810 (EDSR's convention, ``val_range``), the test set "DIV2K" the
whole validation split 0801-0900; published DIV2K numbers are on that split (the test split's HR
images were never released). More benchmark folders (Set5, Set14, ...) are read as test sets
through :mod:`restore.data.sr_benchmark`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from restore.data.paired import Pair, PairedDataModule
from restore.data.sr_benchmark import list_sr_pairs
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


class DIV2KDataModule(PairedDataModule):
    """DIV2K for super-resolution: HR patches (+ aligned LR patches from the LR files).

    ``patch_size`` is the HR patch (a multiple of ``scale``; 96 = EDSR's x2 setting, LR 48).
    Yields uint8 ``{"target"}`` (``lr_source: bicubic``) or ``{"input", "target"}``
    (``lr_source: files``) batches; eval items add ``seed``, ``index``, ``name`` and ``gray``.
    Train with ``task=sr`` and ``data.scale=${task.scale}``.
    """

    LAYOUT = LAYOUT
    report_gray = True  # eval items say which images are gray files (scored as gray in SR)

    def __init__(
        self,
        root: str,
        scale: int = 2,
        lr_source: str = "files",
        val_range: Sequence[int] | None = (801, 810),
        cache: bool | str = True,
        cache_dir: str | None = None,
        **kwargs,
    ):
        if scale not in (2, 3, 4):
            raise ConfigError(f"data.scale must be 2, 3 or 4 for DIV2K, got {scale}")
        if lr_source not in ("files", "bicubic"):
            raise ConfigError(f"data.lr_source must be 'files' or 'bicubic', got {lr_source!r}")
        kwargs.setdefault("channels", 3)
        kwargs.setdefault("patch_size", 96)
        kwargs.setdefault("batch_size", 16)
        kwargs.setdefault("val_crop", None)
        kwargs.setdefault("default_test_name", "DIV2K")
        if kwargs["patch_size"] % scale:
            raise ConfigError(
                f"data.patch_size={kwargs['patch_size']} (HR pixels) must be a multiple of "
                f"data.scale={scale}"
            )
        super().__init__(cache=cache, cache_dir=cache_dir, scale=scale, **kwargs)
        self.root = Path(root)
        self.lr_source = lr_source
        if val_range is not None and len(val_range) != 2:
            raise ConfigError(f"data.val_range must be [first, last], got {list(val_range)}")
        self.val_range = tuple(val_range) if val_range is not None else None

    def default_cache_dir(self) -> Path:
        return self.root / ".cache" / "restore"

    def store_root(self) -> Path:
        return self.root

    def _pairs(self, split: str, lo: int, hi: int) -> list[Pair]:
        hr = _hr_files(self.root / f"DIV2K_{split}_HR", lo, hi)
        if self.lr_source == "bicubic":
            return [Pair(f"{i:04d}", path) for i, path in hr.items()]
        s = self.scale
        lr_dir = self.root / f"DIV2K_{split}_LR_bicubic" / f"X{s}"
        if not lr_dir.is_dir():
            raise DataError(
                f"DIV2K LR folder {lr_dir} does not exist: download the X{s} LR files or set "
                f"data.lr_source=bicubic to make LR images on the device; {LAYOUT}"
            )
        lr = {i: lr_dir / f"{i:04d}x{s}.png" for i in hr}
        missing = [p.name for p in lr.values() if not p.is_file()]
        if missing:
            raise DataError(
                f"DIV2K LR folder {lr_dir} lacks {len(missing)} file(s) for the HR images of "
                f"DIV2K_{split}_HR, e.g. {', '.join(missing[:5])}"
            )
        return [Pair(f"{i:04d}", hr[i], lr[i]) for i in hr]

    def list_pairs(self) -> dict[str, list[Pair]]:
        if not self.root.is_dir():
            raise DataError(f"data.root {self.root} does not exist: {LAYOUT}")
        valid = self._pairs("valid", *VALID_RANGE)
        val = []
        if self.val_range is not None:
            lo, hi = self.val_range
            val = [p for p in valid if lo <= int(p.name) <= hi]
            if not val:
                raise DataError(
                    f"no DIV2K validation image in data.val_range={list(self.val_range)} under "
                    f"{self.root / 'DIV2K_valid_HR'}"
                )
        return {"train": self._pairs("train", *TRAIN_RANGE), "val": val, "test": valid}

    def load_test_set(self, name: str, folder: str | Path) -> list[Pair]:
        """An SR benchmark folder (SelfExSR or EDSR layout, see ``restore.data.sr_benchmark``)."""
        try:
            pairs = list_sr_pairs(folder, self.scale, require_lr=self.lr_source == "files")
        except (FileNotFoundError, ValueError) as err:
            raise DataError(f"test set {name!r}: {err}") from None
        use_lr = self.lr_source == "files"
        return [Pair(p.name, p.hr, p.lr if use_lr else None) for p in pairs]


__all__ = ["TRAIN_RANGE", "VALID_RANGE", "DIV2KDataModule"]
