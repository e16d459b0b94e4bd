"""The decoded-image store: every image decoded once, kept in memory or in a disk cache.

Large datasets do not fit in memory decoded (DIV2K train: 800 x 2040x1356x3 = 6.6 GB; GoPro train:
2103 pairs of 1280x720x3 = 11.6 GB), and decoding a 2K PNG per training patch costs ~100 ms. The
``ImageStore`` therefore decodes every image once into a memory-mapped ``.npy`` file (a "disk"
cache): a training patch then reads only the pages it covers (``benchmarks/div2k_cache.py``
measures it). Small datasets are kept decoded in memory instead (``cache: memory``);
``cache: false`` decodes on every access. Sources that are arrays already (photos bundled in a
package, torchvision's binary sets) are returned as they are.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from restore.data.example import Source
from restore.imaging import image_info, read_uint8
from restore.utils.errors import ConfigError, DataError

log = logging.getLogger(__name__)

CACHE_MODES = ("disk", "memory", "none")


def cache_mode(cache: bool | str | None) -> str:
    """Normalise a ``data.cache`` value: true/"disk", "memory", false/null/"none"."""
    if cache is True or cache == "disk":
        return "disk"
    if cache is False or cache is None or cache == "none":
        return "none"
    if cache == "memory":
        return "memory"
    raise ConfigError(f"data.cache must be true/'disk', 'memory' or false, got {cache!r}")


class ImageStore:
    """Decoded uint8 HxWxC pixels of image files, by path.

    * ``disk``: each image is decoded once into ``<cache_dir>/<path relative to root>.c<C>.npy``
      (written to a temporary name with ``np.lib.format.open_memmap`` and moved into place with
      ``os.replace``, so a killed run never leaves a truncated file under the final name); a cache
      file is reused only when its header has the image's shape and it is newer than the image,
      and is returned as a read-only memory map;
    * ``memory``: decoded once per process and kept;
    * ``none``: decoded on every access.

    Memory maps are opened lazily in each DataLoader worker and at most ``max_open`` are kept
    open (each holds a file descriptor).
    """

    def __init__(
        self,
        channels: int,
        cache: bool | str | None = "memory",
        cache_dir: str | Path | None = None,
        root: str | Path | None = None,
        max_open: int = 128,
    ):
        self.channels = channels
        self.mode = cache_mode(cache)
        if self.mode == "disk" and cache_dir is None:
            raise ConfigError("the disk cache needs data.cache_dir")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.root = Path(os.path.abspath(root)) if root is not None else None
        self.max_open = max_open
        self._sizes: dict[Path, tuple[int, int]] = {}
        self._gray: dict[Path, bool] = {}
        self._memory: dict[Path, np.ndarray] = {}
        self._open: OrderedDict[Path, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict:
        # Workers started by spawn get the store pickled: send no memory maps (they reopen them).
        state = dict(self.__dict__)
        state["_open"] = OrderedDict()
        return state

    # -- sizes -------------------------------------------------------------------------------
    def _header(self, path: Path) -> None:
        h, w, gray = image_info(path)  # the header only, upright as decoded
        self._sizes[path], self._gray[path] = (h, w), gray

    def size(self, path: Source) -> tuple[int, int]:
        """(height, width) of an image from its header, without decoding it."""
        if isinstance(path, np.ndarray):
            return path.shape[0], path.shape[1]
        if path not in self._sizes:
            self._header(path)
        return self._sizes[path]

    def is_gray(self, path: Source) -> bool:
        """Whether the file itself is single-channel (L, LA, I;16, ...), from its header."""
        if isinstance(path, np.ndarray):
            return path.ndim == 2 or path.shape[2] == 1
        if path not in self._gray:
            self._header(path)
        return self._gray[path]

    # -- the disk cache ------------------------------------------------------------------------
    def cache_path(self, path: Path) -> Path:
        """Where the decoded copy of ``path`` lives in the disk cache."""
        assert self.cache_dir is not None
        absolute = Path(os.path.abspath(path))  # symlinks kept: a linked tree mirrors as linked
        suffix = f".c{self.channels}.npy"
        if self.root is not None and absolute.is_relative_to(self.root):
            return self.cache_dir / (str(absolute.relative_to(self.root)) + suffix)
        digest = hashlib.sha1(str(absolute).encode()).hexdigest()[:12]
        return self.cache_dir / "_external" / f"{path.stem}-{digest}{suffix}"

    def _cache_is_valid(self, path: Path, cached: Path) -> bool:
        try:
            if cached.stat().st_mtime < path.stat().st_mtime:
                return False
            with open(cached, "rb") as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        except (OSError, ValueError):
            return False
        return dtype == np.uint8 and shape == (*self.size(path), self.channels)

    def _write_cache(self, path: Path, cached: Path) -> None:
        pixels = read_uint8(path, self.channels)
        # a unique temporary name per writer, renamed atomically: concurrent writers (DDP ranks)
        # and killed runs never leave a partial file under the final name
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=pixels.shape)
            out[...] = pixels
            out.flush()
            del out
            os.replace(tmp, cached)
        except OSError as err:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise DataError(
                f"cannot write the decoded-image cache {cached}: {err}. Set data.cache_dir to a "
                "writable folder, or data.cache=false to decode on every access"
            ) from None

    def build(self, paths: Iterable[Path]) -> int:
        """Make sure every path has a valid disk-cache file; returns how many were (re)written."""
        if self.mode != "disk":
            return 0
        paths = list(dict.fromkeys(paths))
        written = 0
        for i, path in enumerate(paths):
            cached = self.cache_path(path)
            if not self._cache_is_valid(path, cached):
                if written == 0:
                    log.info("decoding %d images once into %s", len(paths), self.cache_dir)
                self._write_cache(path, cached)
                written += 1
                if written % 100 == 0:
                    log.info("cached %d/%d images", i + 1, len(paths))
        return written

    def preload(self, paths: Iterable[Path]) -> None:
        """Decode into memory now (``memory`` mode) or fill the disk cache (``disk`` mode)."""
        if self.mode == "memory":
            for path in paths:
                if path not in self._memory:
                    self._memory[path] = read_uint8(path, self.channels)
                    h, w = self._memory[path].shape[:2]
                    self._sizes[path] = (h, w)
        elif self.mode == "disk":
            self.build(paths)

    # -- access ------------------------------------------------------------------------------
    def __call__(self, path: Source) -> np.ndarray:
        """The pixels of ``path``: HxWxC uint8 (a read-only memory map in ``disk`` mode); an
        array source (decoded by its layout, converted to the channels by the datamodule) as is."""
        if isinstance(path, np.ndarray):
            return path
        if self.mode == "none":
            return read_uint8(path, self.channels)
        if self.mode == "memory":
            if path not in self._memory:
                self._memory[path] = read_uint8(path, self.channels)
            return self._memory[path]
        pixels = self._open.get(path)
        if pixels is not None:
            self._open.move_to_end(path)
            return pixels
        cached = self.cache_path(path)
        try:
            pixels = np.load(cached, mmap_mode="r")
        except (OSError, ValueError):
            pixels = None
        if pixels is None or pixels.shape != (*self.size(path), self.channels):
            self._write_cache(path, cached)
            pixels = np.load(cached, mmap_mode="r")
        self._open[path] = pixels
        if len(self._open) > self.max_open:
            self._open.popitem(last=False)
        return pixels


__all__ = ["CACHE_MODES", "ImageStore", "cache_mode"]
