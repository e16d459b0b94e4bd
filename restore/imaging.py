"""The ground floor of pixels: reading and writing image files, 8-bit rounding and luma.

Every module that reads or writes an image file, rounds to 8 bits or takes the luma of an image
imports these, so a benchmark LR image, a metric, a training patch and a saved PNG agree on the same
levels: :func:`read_image` / :func:`write_image` (8/16-bit PNG and TIFF, EXIF orientation, alpha
kept aside), :func:`image_info` (size and gray-ness from the header), :func:`list_images`,
:func:`read_uint8` (the data layer's reader), :func:`to_chw` / :func:`to_float` / :func:`to_array`
(arrays and tensors), :func:`quantize`, :func:`rgb_to_gray`, :func:`rgb_to_y`,
:func:`match_channels` and the one centred crop (:func:`center_box`, :func:`center_crop`) that
evaluation, DIP and the report grids share.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from restore.utils.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "LoadedImage",
    "center_box",
    "center_crop",
    "image_info",
    "list_images",
    "match_channels",
    "quantize",
    "read_image",
    "read_uint8",
    "rgb_to_gray",
    "rgb_to_y",
    "round_half_up",
    "to_array",
    "to_channels",
    "to_chw",
    "to_float",
    "to_uint8",
    "write_image",
]

log = logging.getLogger(__name__)

# ITU-R BT.601 luma weights of MATLAB's rgb2ycbcr (studio range), for RGB in [0, 1].
_Y_WEIGHTS = (65.481, 128.553, 24.966)
# ITU-R BT.601 full-range luma in PIL's fixed point (ImagingConvert to "L"): x / 65536.
_GRAY_WEIGHTS = (19595, 38470, 7471)


def round_half_up(x: Tensor) -> Tensor:
    """Round to the nearest integer, halves up (MATLAB rounds half away from zero; torch.round
    rounds half to even). For ``x >= 0``, as every pixel value here is after clipping.

    >>> round_half_up(torch.tensor([0.5, 1.5, 2.5, 2.4])).tolist()
    [1.0, 2.0, 3.0, 2.0]
    """
    return torch.floor(x + 0.5)


def quantize(x: Tensor, bits: int = 8) -> Tensor:
    """Clip to [0, 1] and round to the 256 uint8 levels, staying float: what a saved 8-bit image
    holds (MATLAB ``im2uint8``, halves rounded up), and what the published protocol scores.
    ``bits=16``: the 65536 levels of a 16-bit image.

    >>> (quantize(torch.tensor([-0.1, 0.5 / 255, 1.5 / 255, 1.2])) * 255).tolist()
    [0.0, 1.0, 2.0, 255.0]
    >>> (quantize(torch.tensor([0.25]), bits=16) * 65535).tolist()
    [16384.0]
    """
    top = 2**bits - 1
    return round_half_up(x.clamp(0, 1) * top) / top


def rgb_to_y(x: Tensor) -> Tensor:
    """Luma of ITU-R BT.601 in studio range (MATLAB ``rgb2ycbcr``), scaled to [0, 1].

    Args:
        x: (B, 3, H, W) RGB in [0, 1]; a (B, 1, H, W) gray tensor is returned unchanged.
    Returns:
        (B, 1, H, W) Y / 255, i.e. in [16/255, 235/255] for inputs in [0, 1].

    >>> (rgb_to_y(torch.ones(1, 3, 1, 1)) * 255).round().item()
    235.0
    """
    if x.shape[-3] == 1:
        return x
    if x.shape[-3] != 3:
        raise ValueError(f"rgb_to_y: expected 1 or 3 channels, got shape {tuple(x.shape)}.")
    w = x.new_tensor(_Y_WEIGHTS).view(3, 1, 1)
    return (16.0 + (x * w).sum(dim=-3, keepdim=True)) / 255.0


def rgb_to_gray(x: Tensor, bits: int | None = 8) -> Tensor:
    """Full-range ITU-R BT.601 luma (B, 1, H, W) of RGB images (B, 3, H, W) in [0, 1].

    With ``bits`` (8 or 16) the images hold integer levels of that depth and the luma is rounded
    to them as PIL's ``convert("L")`` rounds: bit for bit PIL's gray image for 8-bit inputs (the
    data loaders, which read colour files into gray models' test sets, use this function too).
    ``bits=None``: the plain weighted sum, for float images (a restored output).

    >>> rgb = torch.tensor([255.0, 128.0, 0.0]).view(1, 3, 1, 1) / 255
    >>> int(rgb_to_gray(rgb).item() * 255 + 0.5)  # PIL: (255*19595 + 128*38470 + 32768) >> 16
    151
    """
    if x.shape[-3] == 1:
        return x
    if x.shape[-3] != 3:
        raise ValueError(f"rgb_to_gray: expected 3 channels, got shape {tuple(x.shape)}")
    w = torch.tensor(_GRAY_WEIGHTS, dtype=torch.float64, device=x.device).view(3, 1, 1)
    if bits is None:
        return ((x.double() * w).sum(dim=-3, keepdim=True) / 65536).to(x.dtype)
    top = float(2**bits - 1)
    levels = (x.double().clamp(0, 1) * top).round()
    gray = torch.floor(((levels * w).sum(dim=-3, keepdim=True) + 32768) / 65536)
    return (gray / top).to(x.dtype)


def match_channels(x: Tensor, channels: int, bits: int | None = 8) -> Tensor:
    """The one channel policy of every entry point (eval's data loading, predict, pipeline):

    - a colour image given to a gray model is restored as its luma (:func:`rgb_to_gray`, as the
      gray benchmarks were made from colour photos), and the result is gray;
    - a gray image given to a colour model is restored as three equal channels;
    - the alpha channel, if any, is not restored (callers keep it aside).

    >>> match_channels(torch.rand(2, 3, 4, 4), 1).shape
    torch.Size([2, 1, 4, 4])
    >>> match_channels(torch.rand(1, 1, 2, 2), 3).shape
    torch.Size([1, 3, 2, 2])
    """
    have = x.shape[-3]
    if have == channels:
        return x
    if have == 3 and channels == 1:
        return rgb_to_gray(x, bits)
    if have == 1 and channels == 3:
        return x.expand(*x.shape[:-3], 3, *x.shape[-2:]).contiguous()
    raise ValueError(f"cannot give an image of {have} channels to a model of {channels}")


# -- reading and writing pixels ----------------------------------------------------------------
# OpenCV decodes and encodes because it reads and writes 16-bit colour PNG and TIFF exactly
# (Pillow has no 16-bit RGB mode: it silently reduces such files to 8 bits). Files are decoded from
# bytes (``cv2.imdecode``) so that non-ASCII paths work everywhere. Pillow reads the header only:
# the size, the mode (gray or colour) and the EXIF orientation, which OpenCV's IMREAD_UNCHANGED
# ignores; photos are turned upright as viewers show them, since written files carry no EXIF.

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_MAX_VALUE = {8: 255.0, 16: 65535.0}
_DTYPE = {8: np.uint8, 16: np.uint16}
_ORIENTATION = 0x0112  # the EXIF tag
# Pillow modes of single-channel files (gray, gray + alpha, 1-bit, 16/32-bit); a palette is colour
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# Pillow's ``exif_transpose``, on arrays (H, W[, C]); 5-8 swap height and width
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


@dataclass
class LoadedImage:
    """A decoded image and what is needed to write it back alike.

    ``pixels`` is (H, W, C) uint8 or uint16 as stored, C = 1 (``mode="gray"``) or 3 (``"rgb"``,
    RGB order), upright; ``alpha`` the untouched alpha plane (H, W) of an RGBA/LA file.
    """

    pixels: np.ndarray
    path: Path
    alpha: np.ndarray | None = None

    @property
    def bit_depth(self) -> int:
        """8 or 16."""
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def mode(self) -> str:
        """``"gray"`` or ``"rgb"``."""
        return "gray" if self.pixels.shape[2] == 1 else "rgb"

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.pixels.shape[0], self.pixels.shape[1]

    @cached_property
    def tensor(self) -> Tensor:
        """(1, C, H, W) float32 in [0, 1] (:func:`to_float`)."""
        return to_float(self.pixels)[None]


def _header(path: Path) -> tuple[str | None, tuple[int, int] | None, int]:
    """(Pillow mode, (height, width) as stored, EXIF orientation) from the file's header; the
    mode and size are None where Pillow cannot parse the file (OpenCV may still decode it)."""
    try:
        with Image.open(path) as im:
            # Pillow's getexif() of a PNG without EXIF decodes all of it: read the eXIf chunk
            # seen in the header (before IDAT, where the PNG specification places it)
            if im.format == "PNG":
                exif = Image.Exif()
                if im.info.get("exif"):
                    exif.load(im.info["exif"])
            else:
                exif = im.getexif()
            orientation = int(exif.get(_ORIENTATION, 1))
            return im.mode, (im.height, im.width), orientation if orientation in _ORIENT else 1
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except Exception:  # not a file Pillow knows, or a damaged header: OpenCV decides
        return None, None, 1


def _decode(path: Path) -> LoadedImage:
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(f"cannot read {path}: supported formats are {', '.join(IMAGE_SUFFIXES)}")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except OSError as err:
        raise DataError(f"cannot read image {path}: {err}") from None
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if array is None:
        raise DataError(f"cannot read image {path}: damaged or not an image, replace or remove it")
    if array.dtype not in (np.uint8, np.uint16):
        raise DataError(
            f"{path} holds {array.dtype} samples: only 8- and 16-bit integer images are supported"
        )
    mode, _, orientation = _header(path)
    if array.ndim == 2:
        array = array[..., None]
    alpha = None
    if array.shape[2] in (2, 4):  # gray + alpha, BGRA
        alpha, array = array[..., -1], array[..., :-1]
    if array.shape[2] == 3 and mode in _GRAY_MODES:  # OpenCV decodes gray + alpha PNG as BGRA
        array = array[..., :1]
    elif array.shape[2] == 3:
        array = array[..., ::-1]  # BGR -> RGB
    elif array.shape[2] != 1:
        raise DataError(f"{path} has {array.shape[2]} channels: expected gray or RGB(A)")
    if orientation != 1:
        log.info("%s: applying its EXIF orientation %d", path.name, orientation)
        turn = _ORIENT[orientation]
        array, alpha = turn(array), None if alpha is None else turn(alpha)
    alpha = None if alpha is None else np.ascontiguousarray(alpha)
    return LoadedImage(np.ascontiguousarray(array), path, alpha)


def read_image(path: str | Path) -> LoadedImage:
    """Decode an 8/16-bit PNG or TIFF, an 8-bit JPEG, BMP or WebP, gray or colour, upright by its
    EXIF orientation, alpha kept aside; a :class:`DataError` naming the file if it cannot be."""
    return _decode(Path(path))


def list_images(folder: str | Path, what: str = "image folder") -> list[Path]:
    """The image files of ``folder`` (:data:`IMAGE_SUFFIXES`), sorted by name; a one-line error
    naming the folder when it is missing or holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{what} {folder} does not exist: check the path")
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise DataError(
            f"{what} {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}): put images there or "
            "give another folder"
        )
    return files


def image_info(path: str | Path) -> tuple[int, int, bool]:
    """(height, width, gray) of an image as :func:`read_image` decodes it (upright), from its
    header where Pillow can parse it; ``gray``: the file is single-channel (gray, gray + alpha).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "g.png"
    >>> Image.new("L", (5, 3)).save(path)
    >>> image_info(path)
    (3, 5, True)
    """
    path = Path(path)
    mode, size, orientation = _header(path)
    if mode is None or size is None:
        image = _decode(path)
        return *image.size, image.mode == "gray"
    h, w = size
    return (w, h, mode in _GRAY_MODES) if orientation >= 5 else (h, w, mode in _GRAY_MODES)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """8-bit levels of uint8 or uint16 pixels: 16-bit values ``v`` become ``round(v * 255 /
    65535)`` (exact in integers: ``v / 257`` is never halfway).

    >>> to_uint8(np.array([0, 128, 129, 385, 65535], np.uint16)).tolist()
    [0, 0, 1, 1, 255]
    """
    if pixels.dtype == np.uint8:
        return pixels
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


def to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, C) uint8 pixels with ``channels`` (1 or 3) by the one channel policy: 1 = the luma of
    :func:`rgb_to_gray` (PIL's ``convert("L")`` bit for bit), 3 = gray replicated; an alpha
    channel (C = 2 or 4) is dropped. Returns C-contiguous pixels (the input when nothing changes).

    >>> to_channels(np.array([[[255, 128, 0]]], np.uint8), 1).tolist()
    [[[151]]]
    >>> to_channels(np.array([[7]], np.uint8), 3).tolist()
    [[[7, 7, 7]]]
    """
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[2] in (2, 4):  # drop alpha
        pixels = pixels[..., :-1]
    have = pixels.shape[2]
    if channels == have:
        return np.ascontiguousarray(pixels)
    if channels == 3 and have == 1:
        return np.repeat(pixels, 3, axis=2)
    if channels == 1 and have == 3:
        gray = rgb_to_gray(to_float(pixels)[None], bits=8)[0, 0]
        return (gray * 255).round().to(torch.uint8).numpy()[..., None]
    raise DataError(f"cannot convert an image with {have} channels to {channels}")


def read_uint8(path: str | Path, channels: int = 3) -> np.ndarray:
    """The data layer's reader: (H, W, ``channels``) uint8 pixels of any readable image, 16-bit
    files reduced by :func:`to_uint8`, alpha dropped, channels by :func:`to_channels`."""
    return to_channels(to_uint8(read_image(path).pixels), channels)


def read_mask(path: str | Path, threshold: float = 0.5, invert: bool = False) -> np.ndarray:
    """An inpainting mask file as a (H, W) bool array, True where the pixel is known: its 8-bit
    luma above ``threshold`` (white = known), or below it with ``invert``."""
    known = read_uint8(path, channels=1)[..., 0].astype(np.float32) / 255.0 > threshold
    return ~known if invert else known


def center_box(
    height: int, width: int, crop: int | tuple[int, int] | None, multiple: int = 1
) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the centred ``crop`` (a side, (h, w), or None: all) of a
    ``height`` x ``width`` image, clipped to it, sides rounded down to multiples of ``multiple``.

    >>> center_box(10, 7, 4)
    (3, 1, 4, 4)
    >>> center_box(10, 7, None, multiple=2)
    (0, 0, 10, 6)
    """
    if crop is None:
        ch, cw = height, width
    elif isinstance(crop, int):
        ch = cw = crop
    else:
        ch, cw = (int(v) for v in crop)
    ch = min(ch, height) // multiple * multiple
    cw = min(cw, width) // multiple * multiple
    if ch < 1 or cw < 1:
        raise ValueError(
            f"crop {crop} leaves no pixel of a {height}x{width} image (multiple {multiple})"
        )
    return (height - ch) // 2, (width - cw) // 2, ch, cw


def center_crop(x: Tensor, crop: int | tuple[int, int] | None, multiple: int = 1) -> Tensor:
    """The centred crop of the last two dimensions of ``x`` (see :func:`center_box`).

    >>> center_crop(torch.arange(25).view(1, 5, 5), 3, multiple=2).tolist()
    [[[6, 7], [11, 12]]]
    """
    top, left, h, w = center_box(x.shape[-2], x.shape[-1], crop, multiple)
    return x[..., top : top + h, left : left + w]


def to_chw(pixels: np.ndarray) -> Tensor:
    """(H, W, C) pixels as a (C, H, W) tensor of the same dtype, C-contiguous and writable
    (decoded arrays and memory-mapped caches may be read-only, which torch warns about): a view
    where the layout allows (C = 1), else one copy.

    >>> to_chw(np.zeros((4, 5, 3), np.uint8)).shape
    torch.Size([3, 4, 5])
    """
    return torch.from_numpy(np.require(pixels.transpose(2, 0, 1), requirements=["C", "W"]))


def to_float(pixels: np.ndarray, bit_depth: int | None = None) -> Tensor:
    """(H, W, C) integer pixels as a (C, H, W) float32 tensor in [0, 1], divided by the largest
    level of ``bit_depth`` (8 or 16; None: from the dtype, uint16 = 16 bits).

    >>> to_float(np.array([[[0, 255]]], np.uint8)).tolist()
    [[[0.0]], [[1.0]]]
    """
    bit_depth = bit_depth or (16 if pixels.dtype == np.uint16 else 8)
    if bit_depth not in _MAX_VALUE:
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    chw = np.ascontiguousarray(pixels.transpose(2, 0, 1)).astype(np.float32)
    return torch.from_numpy(chw).div_(_MAX_VALUE[bit_depth])


def to_array(x: Tensor, bit_depth: int) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) floats in [0, 1] -> HxW or HxWxC (RGB) integers, clipped and
    rounded halves up: the levels :func:`quantize` scores, so a written file and a metric agree.

    >>> to_array(torch.tensor([[[0.0, 0.5, 1.2]]]), 8).tolist()
    [[0, 128, 255]]
    """
    if bit_depth not in _MAX_VALUE:
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    x = x.detach().float().cpu()
    x = x[0] if x.ndim == 4 else x
    scaled = round_half_up(x.clamp(0, 1).mul(_MAX_VALUE[bit_depth]))
    array = scaled.numpy().astype(_DTYPE[bit_depth]).transpose(1, 2, 0)
    return array[..., 0] if array.shape[2] == 1 else array


def write_image(
    path: str | Path,
    x: Tensor,
    bit_depth: int = 8,
    alpha: np.ndarray | None = None,
    jpeg_quality: int = 95,
) -> Path:
    """Encode ``x`` ((1, C, H, W) or (C, H, W), gray or RGB in [0, 1]) to ``path`` in the format
    its suffix names, creating the folder.

    PNG and TIFF keep 8 or 16 bits and are lossless (TIFF with LZW compression); JPEG, BMP and
    WebP hold 8 bits only, so a 16-bit image written there is reduced, with a warning.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise DataError(f"cannot write {path}: supported formats are {', '.join(IMAGE_SUFFIXES)}")
    if bit_depth == 16 and suffix not in (".png", ".tif", ".tiff"):
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
