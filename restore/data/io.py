"""Reading images from disk with errors that name the file and say what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from restore import imaging
from restore.utils.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


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


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """An HxWxC uint8 array with ``channels`` (1: ITU-R 601 luma, 3: RGB)."""
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] == 4:  # drop alpha
        image = image[..., :3]
    if channels == image.shape[2]:
        return np.ascontiguousarray(image)
    if channels == 3 and image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if channels == 1 and image.shape[2] == 3:  # the one channel policy (restore.imaging)
        rgb = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
        gray = (imaging.rgb_to_gray(rgb, bits=8)[0, 0] * 255).round().to(torch.uint8)
        return gray.numpy()[..., None]
    raise DataError(f"cannot convert an image with {image.shape[2]} channels to {channels}")


def read_image(path: str | Path, channels: int = 3) -> np.ndarray:
    """Decode ``path`` into an HxWxC uint8 array with ``channels`` channels (1 or 3)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I", "F"):
                array = np.asarray(im, dtype=np.float64)
                scale = 65535.0 if array.max() > 255 else 255.0
                array = np.clip(np.round(array / scale * 255.0), 0, 255).astype(np.uint8)
            elif im.mode in ("L", "RGB", "RGBA"):
                array = np.asarray(im)
            else:
                array = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(f"cannot read image {path}: {err}. Replace or remove the file.") from None
    return to_channels(array, channels)
