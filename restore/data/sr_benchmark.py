"""Super-resolution benchmark sets (Set5, Set14, BSD100, Urban100, DIV2K valid, ...) on disk.

Two folder layouts are in common use and both are read, the layout being detected from the
folder names:

* SelfExSR (Huang et al., CVPR 2015; the ``../shared/datasets`` copies of Set5/Set14)::

      root/image_SRF_{s}/img_001_SRF_{s}_HR.png   HR cropped to a multiple of s
      root/image_SRF_{s}/img_001_SRF_{s}_LR.png   MATLAB bicubic of it

* EDSR / BasicSR (Lim et al., CVPRW 2017)::

      root/HR/<name>.png
      root/LR_bicubic/X{s}/<name>x{s}.png         (folder optional: LR is then None)

The listing is a layout (:func:`sr_benchmark`, see :mod:`restore.data.layouts`): examples whose
target is the HR file and input the LR file. The evaluation dataset crops each HR image to ``s``
times the LR size ("modcrop", as EDSR's loader does), or to a multiple of ``s`` when there is no
LR, so that every pair is consistent; single-channel files are flagged ``gray`` (scored as gray,
as published, see ``restore.metrics.sr``).
"""

import re
from pathlib import Path

from restore.data.example import Example
from restore.imaging import list_images
from restore.utils.errors import DataError

__all__ = ["detect_layout", "is_sr_benchmark", "list_sr_pairs", "sr_benchmark"]

LAYOUT_HELP = (
    "expected one of the SR benchmark layouts: SelfExSR "
    "'image_SRF_{s}/img_NNN_SRF_{s}_HR.png' + '..._LR.png', or EDSR/BasicSR "
    "'HR/<name>.png' + 'LR_bicubic/X{s}/<name>x{s}.png'"
)
_SELFEXSR_DIR = re.compile(r"^image_SRF_(\d+)$")


def _images(folder: Path) -> list[Path]:
    return list_images(folder, "SR benchmark folder")


def detect_layout(root: str | Path) -> str:
    """Return ``"selfexsr"`` or ``"edsr"`` for a benchmark folder; raise if neither."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"SR benchmark folder {root} does not exist; {LAYOUT_HELP}.")
    if any(p.is_dir() and _SELFEXSR_DIR.match(p.name) for p in root.iterdir()):
        return "selfexsr"
    if (root / "HR").is_dir():
        return "edsr"
    raise DataError(f"{root} is not an SR benchmark folder: {LAYOUT_HELP}.")


def _selfexsr_pairs(root: Path, scale: int) -> list[Example]:
    folder = root / f"image_SRF_{scale}"
    if not folder.is_dir():
        found = sorted(
            int(m.group(1)) for p in root.iterdir() if (m := _SELFEXSR_DIR.match(p.name))
        )
        raise DataError(
            f"{root} (SelfExSR layout) has no folder image_SRF_{scale}; scales present: {found}."
        )
    pairs = []
    for hr in _images(folder):
        if not hr.stem.endswith("_HR"):
            continue
        lr = hr.with_name(hr.stem[: -len("_HR")] + "_LR" + hr.suffix)
        if not lr.is_file():
            raise DataError(f"{hr} has no matching LR image {lr.name} in {folder}.")
        name = hr.stem[: -len("_HR")].removesuffix(f"_SRF_{scale}")
        pairs.append(Example(name, hr, lr))
    if not pairs:
        raise DataError(f"{folder} holds no '*_HR' images; {LAYOUT_HELP}.")
    return pairs


def _edsr_pairs(root: Path, scale: int, require_lr: bool) -> list[Example]:
    hr_files = _images(root / "HR")
    lr_dir = root / "LR_bicubic" / f"X{scale}"
    if not lr_dir.is_dir():
        if require_lr:
            raise DataError(
                f"{root} (EDSR/BasicSR layout) has no LR folder {lr_dir}; {LAYOUT_HELP}."
            )
        return [Example(p.stem, p, None) for p in hr_files]
    lr_by_stem = {p.stem: p for p in _images(lr_dir)}
    pairs = []
    for hr in hr_files:
        lr = lr_by_stem.get(f"{hr.stem}x{scale}")
        if lr is None:
            raise DataError(f"{hr} has no matching LR image {hr.stem}x{scale}.* in {lr_dir}.")
        pairs.append(Example(hr.stem, hr, lr))
    return pairs


def list_sr_pairs(root: str | Path, scale: int, require_lr: bool = False) -> list[Example]:
    """Pair the HR and LR files of a benchmark folder (layout auto-detected), sorted by name.

    Examples have the HR file as ``target`` and the LR file as ``input`` (None without LR files).
    Raises DataError when the folder, its layout or the scale's folder is missing or when an HR
    image has no LR partner (the datamodule checks their sizes against ``data.scale``).
    """
    root = Path(root)
    layout = detect_layout(root)
    if layout == "selfexsr":
        pairs = _selfexsr_pairs(root, scale)
    else:
        pairs = _edsr_pairs(root, scale, require_lr)
    return pairs


def is_sr_benchmark(root: str | Path) -> bool:
    """Whether ``root`` is laid out as an SR benchmark (either layout)."""
    try:
        detect_layout(root)
    except DataError:
        return False
    return True


def sr_benchmark(
    root: str | Path, scale: int, require_lr: bool = False, what: str = "SR benchmark"
) -> list[Example]:
    """The layout of one benchmark folder: its (LR input, HR target) examples at ``scale``."""
    try:
        return list_sr_pairs(root, scale, require_lr)
    except DataError as err:
        raise DataError(f"{what}: {err}") from None
