"""Super-resolution benchmark sets (Set5, Set14, BSD100, Urban100, DIV2K valid, ...) on disk.

Two folder layouts are in common use and both are read, the layout being detected from the
folder names:

* SelfExSR (Huang et al., CVPR 2015; the ``../shared/datasets`` copies of Set5/Set14)::

      root/image_SRF_{s}/img_001_SRF_{s}_HR.png   HR cropped to a multiple of s
      root/image_SRF_{s}/img_001_SRF_{s}_LR.png   MATLAB bicubic of it

* EDSR / BasicSR (Lim et al., CVPRW 2017)::

      root/HR/<name>.png
      root/LR_bicubic/X{s}/<name>x{s}.png         (folder optional: LR is then None)

HR images are cropped to ``s`` times the LR size ("modcrop", as EDSR's loader does), or to a
multiple of ``s`` when there is no LR, so that every pair is consistent.
"""

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from restore.imaging import rgb_to_y

__all__ = [
    "SRBenchmarkDataset",
    "SRPairPaths",
    "SRSample",
    "detect_layout",
    "list_sr_pairs",
    "read_sr_benchmark",
]

IMAGE_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
LAYOUT_HELP = (
    "expected one of the SR benchmark layouts: SelfExSR "
    "'image_SRF_{s}/img_NNN_SRF_{s}_HR.png' + '..._LR.png', or EDSR/BasicSR "
    "'HR/<name>.png' + 'LR_bicubic/X{s}/<name>x{s}.png'"
)
_SELFEXSR_DIR = re.compile(r"^image_SRF_(\d+)$")


class SRSample(NamedTuple):
    """One benchmark image: ``hr`` uint8 (H, W, C) and ``lr`` uint8 (H/s, W/s, C) or None."""

    name: str
    hr: np.ndarray
    lr: np.ndarray | None


class SRPairPaths(NamedTuple):
    name: str
    hr: Path
    lr: Path | None


def _images(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def detect_layout(root: str | Path) -> str:
    """Return ``"selfexsr"`` or ``"edsr"`` for a benchmark folder; raise if neither."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"SR benchmark folder {root} does not exist; {LAYOUT_HELP}.")
    if any(p.is_dir() and _SELFEXSR_DIR.match(p.name) for p in root.iterdir()):
        return "selfexsr"
    if (root / "HR").is_dir():
        return "edsr"
    raise FileNotFoundError(f"{root} is not an SR benchmark folder: {LAYOUT_HELP}.")


def _selfexsr_pairs(root: Path, scale: int) -> list[SRPairPaths]:
    folder = root / f"image_SRF_{scale}"
    if not folder.is_dir():
        found = sorted(
            int(m.group(1)) for p in root.iterdir() if (m := _SELFEXSR_DIR.match(p.name))
        )
        raise FileNotFoundError(
            f"{root} (SelfExSR layout) has no folder image_SRF_{scale}; scales present: {found}."
        )
    pairs = []
    for hr in _images(folder):
        if not hr.stem.endswith("_HR"):
            continue
        lr = hr.with_name(hr.stem[: -len("_HR")] + "_LR" + hr.suffix)
        if not lr.is_file():
            raise ValueError(f"{hr} has no matching LR image {lr.name} in {folder}.")
        name = hr.stem[: -len("_HR")].removesuffix(f"_SRF_{scale}")
        pairs.append(SRPairPaths(name, hr, lr))
    if not pairs:
        raise FileNotFoundError(f"{folder} holds no '*_HR' images; {LAYOUT_HELP}.")
    return pairs


def _edsr_pairs(root: Path, scale: int, require_lr: bool) -> list[SRPairPaths]:
    hr_files = _images(root / "HR")
    if not hr_files:
        raise FileNotFoundError(f"{root / 'HR'} holds no images; {LAYOUT_HELP}.")
    lr_dir = root / "LR_bicubic" / f"X{scale}"
    if not lr_dir.is_dir():
        if require_lr:
            raise FileNotFoundError(
                f"{root} (EDSR/BasicSR layout) has no LR folder {lr_dir}; {LAYOUT_HELP}."
            )
        return [SRPairPaths(p.stem, p, None) for p in hr_files]
    lr_by_stem = {p.stem: p for p in _images(lr_dir)}
    pairs = []
    for hr in hr_files:
        lr = lr_by_stem.get(f"{hr.stem}x{scale}")
        if lr is None:
            raise ValueError(f"{hr} has no matching LR image {hr.stem}x{scale}.* in {lr_dir}.")
        pairs.append(SRPairPaths(hr.stem, hr, lr))
    return pairs


def list_sr_pairs(root: str | Path, scale: int, require_lr: bool = False) -> list[SRPairPaths]:
    """Pair the HR and LR files of a benchmark folder (layout auto-detected), sorted by name.

    Raises FileNotFoundError when the folder, its layout or the scale's folder is missing, and
    ValueError when an HR image has no LR partner or their sizes do not match ``scale``.
    """
    root = Path(root)
    layout = detect_layout(root)
    if layout == "selfexsr":
        pairs = _selfexsr_pairs(root, scale)
    else:
        pairs = _edsr_pairs(root, scale, require_lr)
    for pair in pairs:
        if pair.lr is None:
            continue
        with Image.open(pair.hr) as hr, Image.open(pair.lr) as lr:  # header only
            (hw, hh), (lw, lh) = hr.size, lr.size
        if not (0 <= hw - lw * scale < scale and 0 <= hh - lh * scale < scale):
            raise ValueError(
                f"{pair.hr} is {hw}x{hh} but its LR {pair.lr} is {lw}x{lh}, "
                f"not 1/{scale} of it (crop to a multiple of {scale} expected)."
            )
    return pairs


def _read(path: Path) -> np.ndarray:
    """uint8 (H, W, C) array, C = 1 for single-channel files and 3 otherwise."""
    with Image.open(path) as im:
        if im.mode not in ("L", "RGB"):  # palette, alpha, 1-bit: drop to L (1-2 bands) or RGB
            im = im.convert("L" if len(im.getbands()) <= 2 else "RGB")
        a = np.array(im, dtype=np.uint8)  # writable copy
    return a[..., None] if a.ndim == 2 else a


def load_pair(pair: SRPairPaths, scale: int) -> SRSample:
    """Read one pair; HR is cropped to ``scale`` x LR size (to a multiple of ``scale`` w/o LR)."""
    hr = _read(pair.hr)
    lr = _read(pair.lr) if pair.lr is not None else None
    if lr is not None:
        h, w = lr.shape[0] * scale, lr.shape[1] * scale
    else:
        h, w = hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale
    return SRSample(pair.name, np.ascontiguousarray(hr[:h, :w]), lr)


def read_sr_benchmark(root: str | Path, scale: int, require_lr: bool = False) -> list[SRSample]:
    """Read a whole benchmark set: list of ``(name, hr, lr)`` uint8 (H, W, C) arrays."""
    return [load_pair(p, scale) for p in list_sr_pairs(root, scale, require_lr)]


def _to_tensor(a: np.ndarray, channels: int) -> Tensor:
    x = torch.from_numpy(a).permute(2, 0, 1).float() / 255.0
    if channels == 3 and x.shape[0] == 1:
        return x.expand(3, -1, -1).contiguous()
    if channels == 1 and x.shape[0] == 3:
        return rgb_to_y(x[None])[0]  # SR of gray models is done on BT.601 Y (SRCNN protocol)
    return x


class SRBenchmarkDataset(Dataset):
    """Torch dataset over a benchmark folder; images are read lazily.

    Items: ``{"target": HR (C, H, W), "input": LR (C, H/s, W/s) (absent without LR files),
    "name": str, "index": int, "gray": bool}``, floats in [0, 1]. ``channels=3`` replicates
    single-channel images (``gray`` is True for them; pass it to ``restore.metrics.sr`` metrics
    so they are scored as gray, as published); ``channels=1`` turns RGB images into BT.601 Y.
    """

    def __init__(
        self, root: str | Path, scale: int, channels: int = 3, require_lr: bool = False
    ) -> None:
        if channels not in (1, 3):
            raise ValueError(f"SRBenchmarkDataset: channels must be 1 or 3, got {channels}.")
        self.root = Path(root)
        self.scale = int(scale)
        self.channels = channels
        self.pairs = list_sr_pairs(self.root, self.scale, require_lr)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Tensor | str | int | bool]:
        sample = load_pair(self.pairs[index], self.scale)
        item: dict[str, Tensor | str | int | bool] = {
            "target": _to_tensor(sample.hr, self.channels),
            "name": sample.name,
            "index": index,
            "gray": sample.hr.shape[2] == 1,
        }
        if sample.lr is not None:
            item["input"] = _to_tensor(sample.lr, self.channels)
        return item
