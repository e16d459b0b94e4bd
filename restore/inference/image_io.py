"""Reading a user's photos for inference and writing the restored ones back, losslessly.

The decoding, encoding and folder listing are :mod:`restore.imaging`'s (8/16-bit PNG and TIFF
kept exact, EXIF orientation applied, alpha kept aside); this module adds what inference needs:
the inputs of a run (:func:`list_inputs`) and the channel conversions it logs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import Tensor

from restore import imaging
from restore.utils.errors import DataError

__all__ = ["list_inputs", "match_channels", "to_mode"]

log = logging.getLogger(__name__)


def list_inputs(path: str | Path) -> list[Path]:
    """``path`` itself when it is a file, else the images of the folder, sorted (the output
    keeps each input's suffix, hence its format)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"input {path} does not exist: give an image file or a folder of images")
    return imaging.list_images(path, "input folder")


def match_channels(x: Tensor, channels: int, name: str = "image", bits: int | None = 8) -> Tensor:
    """Convert a (B, C, H, W) batch to the model's ``channels`` by the one channel policy
    (:func:`restore.imaging.match_channels`: luma for a gray model, 3 equal channels for a colour
    one), saying so in the log. ``bits``: the image's bit depth (the luma is rounded to it)."""
    have = x.shape[1]
    if have == 3 and channels == 1:
        log.info("%s is colour but the model is gray: restoring its luma (ITU-R 601)", name)
    elif have == 1 and channels == 3:
        log.info("%s is gray but the model is colour: restoring it as 3 equal channels", name)
    try:
        return imaging.match_channels(x, channels, bits)
    except ValueError as err:
        raise DataError(f"{name}: {err}") from None


def to_mode(x: Tensor, mode: str) -> Tensor:
    """Bring a restored batch back to the input file's mode where that loses nothing.

    A gray input restored by a colour model is written gray again (luma of the 3 channels); a
    colour input restored by a gray model stays gray, since its colour cannot be recovered.
    """
    if mode == "gray" and x.shape[1] == 3:
        return imaging.rgb_to_gray(x, bits=None)
    return x
