"""Listing image folders, with errors that name the folder and say what to do.

Decoding is :mod:`restore.imaging`'s (the one reader of every layer): ``read_image`` and
``to_channels`` are its ``read_uint8`` and ``to_channels``, kept here under the data layer's names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from restore.imaging import IMAGE_SUFFIXES, read_uint8, to_channels
from restore.utils.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "DataError", "list_images", "read_image", "to_channels"]


def list_images(folder: str | Path, what: str = "image folder") -> list[Path]:
    """The image files of ``folder``, sorted by name; a clear error when missing or empty."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{what} {folder} does not exist: check the path in the data config")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(
            f"{what} {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}): "
            "put images there or point the data config elsewhere"
        )
    return files


def read_image(path: str | Path, channels: int = 3) -> np.ndarray:
    """Decode ``path`` into an HxWxC uint8 array with ``channels`` channels (1 or 3):
    :func:`restore.imaging.read_uint8`."""
    return read_uint8(path, channels)
