"""Reading a user's photos into tensors and writing the restored ones back, losslessly.

OpenCV does the decoding and encoding because it is the one library at hand that reads and
writes 16-bit colour PNG and TIFF exactly (Pillow has no 16-bit RGB mode: it silently reduces such
files to 8 bits, and imageio's Pillow plugin inherits that). Files are decoded from bytes
(``cv2.imdecode``) so that paths with non-ASCII characters work on every platform. Photos are
turned upright by their EXIF orientation, as viewers show them, since the output has no EXIF.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image as PILImage
from torch import Tensor

from restore import imaging
from restore.utils.errors import DataError

log = logging.getLogger(__name__)

# what predict restores; the output keeps the input's suffix, hence its format
READ_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
_MAX_VALUE = {8: 255.0, 16: 65535.0}
_DTYPE = {8: np.uint8, 16: np.uint16}
_ORIENTATION = 0x0112  # the EXIF tag


@dataclass
class LoadedImage:
    """A decoded image: pixels as float in [0, 1] plus what is needed to write it back alike.

    ``tensor`` is (1, C, H, W) float32, C=1 (``mode="gray"``) or 3 (``mode="rgb"``, RGB order).
    ``bit_depth`` is 8 or 16; ``alpha`` the untouched alpha plane (H, W) of an RGBA/LA file.
    """

    tensor: Tensor
    path: Path
    bit_depth: int
    mode: str
    alpha: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.tensor.shape[-2], self.tensor.shape[-1]


def list_inputs(path: str | Path) -> list[Path]:
    """``path`` itself when it is a file, else the readable images of the folder, sorted."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"input {path} does not exist: give an image file or a folder of images")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in READ_SUFFIXES)
    if not files:
        raise DataError(f"input folder {path} holds no images ({', '.join(READ_SUFFIXES)})")
    return files


def read_image(path: str | Path) -> LoadedImage:
    """Decode an 8/16-bit PNG or TIFF, an 8-bit JPEG or BMP, gray or colour (alpha kept aside)."""
    path = Path(path)
    if path.suffix.lower() not in READ_SUFFIXES:
        raise DataError(f"cannot read {path}: supported formats are {', '.join(READ_SUFFIXES)}")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except OSError as err:
        raise DataError(f"cannot read image {path}: {err}") from None
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if array is None:
        raise DataError(f"cannot decode image {path}: the file is damaged or not an image")
    if array.dtype == np.uint8:
        bit_depth = 8
    elif array.dtype == np.uint16:
        bit_depth = 16
    else:
        raise DataError(
            f"{path} holds {array.dtype} samples: only 8- and 16-bit integer images are supported"
        )
    array = _apply_orientation(array, _exif_orientation(path), path.name)
    alpha = None
    if array.ndim == 3 and array.shape[2] in (2, 4):  # gray+alpha or BGRA
        alpha, array = array[..., -1].copy(), array[..., :-1]
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        mode, chw = "gray", array[None]
    elif array.shape[2] == 3:
        mode, chw = "rgb", array[..., ::-1].transpose(2, 0, 1)  # OpenCV decodes to BGR
    else:
        raise DataError(f"{path} has {array.shape[2]} channels: expected gray or RGB(A)")
    tensor = torch.from_numpy(np.ascontiguousarray(chw).astype(np.float32))
    tensor = tensor.div_(_MAX_VALUE[bit_depth]).unsqueeze(0)
    return LoadedImage(tensor=tensor, path=path, bit_depth=bit_depth, mode=mode, alpha=alpha)


def _exif_orientation(path: Path) -> int:
    """The EXIF orientation tag (1-8) of a photo, 1 when absent (Pillow reads the header only)."""
    try:
        with PILImage.open(path) as im:
            return int(im.getexif().get(_ORIENTATION, 1))
    except Exception:  # no EXIF, or a file Pillow cannot parse: nothing to rotate
        return 1


def _apply_orientation(array: np.ndarray, orientation: int, name: str) -> np.ndarray:
    """Turn the stored pixels the way viewers display them (the written file has no EXIF).

    OpenCV's IMREAD_UNCHANGED ignores the tag; the mapping is Pillow's ``exif_transpose``.
    """
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    if orientation not in ops:
        return array
    log.info("%s: applying its EXIF orientation %d", name, orientation)
    return np.ascontiguousarray(ops[orientation](array))


def to_array(x: Tensor, bit_depth: int) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) floats in [0, 1] -> HxW or HxWxC (RGB) integers, rounded."""
    if bit_depth not in _MAX_VALUE:
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    x = x.detach().float().cpu()
    x = x[0] if x.ndim == 4 else x
    scaled = x.clamp(0, 1).mul(_MAX_VALUE[bit_depth]).round()
    array = scaled.numpy().astype(_DTYPE[bit_depth]).transpose(1, 2, 0)
    return array[..., 0] if array.shape[2] == 1 else array


def write_image(
    path: str | Path,
    x: Tensor,
    bit_depth: int = 8,
    alpha: np.ndarray | None = None,
    jpeg_quality: int = 95,
) -> Path:
    """Encode ``x`` (gray or RGB, [0, 1]) to ``path`` in the format its suffix names.

    PNG and TIFF keep 8 or 16 bits and are lossless (TIFF with LZW compression); JPEG and BMP
    only hold 8 bits, so a 16-bit image written there is reduced, with a warning.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READ_SUFFIXES:
        raise DataError(f"cannot write {path}: supported formats are {', '.join(READ_SUFFIXES)}")
    if bit_depth == 16 and suffix in (".jpg", ".jpeg", ".bmp"):
        log.warning("%s: %s holds 8 bits only, writing 8-bit", path.name, suffix)
        bit_depth = 8
    array = to_array(x, bit_depth)
    if array.ndim == 3:
        array = array[..., ::-1]  # RGB -> BGR for OpenCV
    if alpha is not None:
        if alpha.shape != array.shape[:2]:
            raise ValueError(f"alpha {alpha.shape} does not match the image {array.shape[:2]}")
        alpha = _requantize(alpha, bit_depth)
        if array.ndim == 2:  # OpenCV encodes gray+alpha only as BGRA
            array = np.repeat(array[..., None], 3, axis=2)
        array = np.concatenate([array, alpha[..., None]], axis=2)
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    elif suffix == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(array), params)
    if not ok:
        raise DataError(f"OpenCV could not encode {path} as {suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded.tofile(path)
    return path


def _requantize(plane: np.ndarray, bit_depth: int) -> np.ndarray:
    """An alpha plane at ``bit_depth`` (16-bit alpha of an image written as 8-bit JPEG/BMP)."""
    if plane.dtype == _DTYPE[bit_depth]:
        return plane
    scale = _MAX_VALUE[bit_depth] / _MAX_VALUE[16 if plane.dtype == np.uint16 else 8]
    return np.round(plane.astype(np.float64) * scale).astype(_DTYPE[bit_depth])


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
