"""Paired data (degraded input + clean target on disk) and the decoded-image store under it.

Real degraded photographs (blurred GoPro frames, DIV2K's LR files) cannot be made on the device:
the dataset yields ``{"input", "target"}`` uint8 CHW tensors and the task uses the input as is.
A pair may also have no input file (``input=None``): the dataset then yields ``{"target"}`` only and
the task degrades it on the device, as for the clean-only datamodules.

Large datasets do not fit in memory decoded (DIV2K train: 800 x 2040x1356x3 = 6.6 GB; GoPro train:
2103 pairs of 1280x720x3 = 11.6 GB), and decoding a 2K PNG per training patch costs ~100 ms. The
``ImageStore`` therefore decodes every image once into a memory-mapped ``.npy`` file (a "disk"
cache): a training patch then reads only the pages it covers. Small datasets are kept decoded in
memory instead (``cache: memory``); ``cache: false`` decodes on every access.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import albumentations as A
import numpy as np
import torch
from PIL import Image as PILImage
from torch.utils.data import DataLoader, Dataset

from restore.data.datamodules import RestorationDataModule
from restore.data.io import list_images, read_image
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
        try:
            with PILImage.open(path) as im:
                w, h = im.size
                self._gray[path] = len(im.getbands()) <= 2 and im.mode != "P"
        except FileNotFoundError:
            raise DataError(f"image {path} does not exist") from None
        except OSError as err:
            raise DataError(f"cannot read image {path}: {err}") from None
        self._sizes[path] = (h, w)

    def size(self, path: Path) -> tuple[int, int]:
        """(height, width) of an image from its header, without decoding it."""
        if path not in self._sizes:
            self._header(path)
        return self._sizes[path]

    def is_gray(self, path: Path) -> bool:
        """Whether the file itself is single-channel (L, LA, I;16, ...), from its header."""
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
        pixels = read_image(path, self.channels)
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
                    self._memory[path] = read_image(path, self.channels)
                    h, w = self._memory[path].shape[:2]
                    self._sizes[path] = (h, w)
        elif self.mode == "disk":
            self.build(paths)

    # -- access ------------------------------------------------------------------------------
    def __call__(self, path: Path) -> np.ndarray:
        """The pixels of ``path``: HxWxC uint8 (a read-only memory map in ``disk`` mode)."""
        if self.mode == "none":
            return read_image(path, self.channels)
        if self.mode == "memory":
            if path not in self._memory:
                self._memory[path] = read_image(path, self.channels)
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


class Pair(NamedTuple):
    """An example on disk: the clean ``target`` and its degraded ``input`` (or None)."""

    name: str
    target: Path
    input: Path | None = None


def _to_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


def check_pairs(pairs: Sequence[Pair], store: ImageStore, scale: int = 1) -> None:
    """Every input must be the target's size (``scale`` 1) or 1/scale of it, up to the target
    being cropped to a multiple of ``scale``; raises DataError naming both files otherwise."""
    for pair in pairs:
        if pair.input is None:
            continue
        (th, tw), (ih, iw) = store.size(pair.target), store.size(pair.input)
        if not (0 <= th - ih * scale < scale and 0 <= tw - iw * scale < scale):
            want = "the same size" if scale == 1 else f"1/{scale} of it"
            raise DataError(
                f"pair {pair.name!r}: target {pair.target} is {tw}x{th} but input {pair.input} "
                f"is {iw}x{ih}; the input must be {want}"
            )


def pair_folders(input_dir: Path, target_dir: Path, prefix: str = "") -> list[Pair]:
    """Pair the images of two folders by file name (stem: ``x.png`` pairs with ``x.jpg``)."""
    inputs = {p.stem: p for p in list_images(input_dir, "input folder")}
    targets = {p.stem: p for p in list_images(target_dir, "target folder")}
    only_in = sorted(set(inputs) - set(targets)), sorted(set(targets) - set(inputs))
    if only_in[0] or only_in[1]:
        parts = []
        for names, here, there in (
            (only_in[0], input_dir, target_dir),
            (only_in[1], target_dir, input_dir),
        ):
            if names:
                more = f" (+{len(names) - 5} more)" if len(names) > 5 else ""
                shown = ", ".join(names[:5]) + more
                parts.append(f"{len(names)} image(s) of {here} have no partner in {there}: {shown}")
        raise DataError(
            "; ".join(parts) + ". Input and target folders must hold the same file names."
        )
    return [Pair(prefix + stem, targets[stem], inputs[stem]) for stem in sorted(targets)]


class PairedPatchDataset(Dataset):
    """Random aligned patches of (input, target) pairs with the same dihedral transform.

    Each of the ``patches_per_epoch`` items picks a pair with probability proportional to its
    target area, then one random crop and one of the 8 dihedral transforms (``A.D4``), applied
    identically to input and target through albumentations' ``additional_targets``.
    ``patch_size`` is the target patch; with ``scale`` > 1 the input patch is ``patch_size/scale``
    at the aligned position (albumentations cannot crop two images of different sizes in step,
    so that crop is drawn here, on the input's grid, and only the D4 goes through albumentations).
    Pairs without input yield ``{"target"}`` only.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        store: ImageStore,
        patch_size: int,
        patches_per_epoch: int,
        augment: bool = True,
        scale: int = 1,
    ):
        if not pairs:
            raise ValueError("PairedPatchDataset needs at least one pair")
        if patch_size % scale:
            raise ConfigError(
                f"data.patch_size={patch_size} must be a multiple of the scale {scale}"
            )
        self.pairs = list(pairs)
        self.store = store
        self.patch_size = patch_size
        self.patches_per_epoch = patches_per_epoch
        self.scale = scale
        sizes = [store.size(p.target) for p in self.pairs]
        small = [s for s in sizes if min(s) < patch_size]
        if small:
            raise DataError(
                f"data.patch_size={patch_size} is larger than {len(small)} training image(s) "
                f"(smallest {min(small)}): lower data.patch_size"
            )
        areas = np.array([h * w for h, w in sizes], dtype=np.float64)
        self.cumulative = np.cumsum(areas / areas.sum())
        ops: list = [A.RandomCrop(patch_size, patch_size)] if scale == 1 else []
        if augment:
            ops.append(A.D4())
        self.transform = A.Compose(
            ops, additional_targets={"input": "image"}, is_check_shapes=scale == 1
        )
        self._seeded_for: int | None = None

    def __len__(self) -> int:
        return self.patches_per_epoch

    def _crop_scaled(self, target: np.ndarray, inp: np.ndarray | None) -> dict:
        s, p = self.scale, self.patch_size // self.scale
        h, w = target.shape[0] // s, target.shape[1] // s  # the input grid (target modcropped)
        top = int(torch.randint(0, h - p + 1, ()).item())
        left = int(torch.randint(0, w - p + 1, ()).item())
        data = {"image": target[top * s : (top + p) * s, left * s : (left + p) * s]}
        if inp is not None:
            data["input"] = inp[top : top + p, left : left + p]
        return data

    def __getitem__(self, index: int) -> dict:
        # albumentations keeps its own random state, which forked workers would share: reseed it
        # from torch's per-worker seed (itself derived from seed_everything), once per worker.
        seed = torch.initial_seed()
        if seed != self._seeded_for:
            self.transform.set_random_seed(seed % 2**32)
            self._seeded_for = seed
        u = torch.rand(()).item()
        k = min(int(np.searchsorted(self.cumulative, u)), len(self.pairs) - 1)
        pair = self.pairs[k]
        target = self.store(pair.target)
        inp = self.store(pair.input) if pair.input is not None else None
        if self.scale == 1:
            data = {"image": target} if inp is None else {"image": target, "input": inp}
        else:
            data = self._crop_scaled(target, inp)
        out = self.transform(**data)
        item = {"target": _to_tensor(out["image"])}
        if inp is not None:
            item["input"] = _to_tensor(out["input"])
        return item


class PairedImageDataset(Dataset):
    """Whole pairs (optionally center-cropped) for validation and test.

    Items: ``input`` (when the pair has one), ``target``, ``seed`` (the same for every image, as
    the published protocols reseed per image), ``index`` and ``name``. With ``scale`` > 1 the
    target is cropped to ``scale`` times the input ("modcrop"), or to a multiple of ``scale``
    when there is no input; ``crop`` (in target pixels) keeps input and target aligned.
    ``report_gray`` adds ``gray``: whether the target file is single-channel (SR tables score
    such images of Set14/BSD100 as gray, see ``restore.metrics.sr``).
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        store: ImageStore,
        seed: int = 0,
        crop: int | None = None,
        scale: int = 1,
        report_gray: bool = False,
    ):
        if not pairs:
            raise ValueError("PairedImageDataset needs at least one pair")
        self.pairs = list(pairs)
        self.store = store
        self.seed = seed
        self.crop = crop
        self.scale = scale
        self.report_gray = report_gray

    def __len__(self) -> int:
        return len(self.pairs)

    def output_size(self, index: int) -> tuple[int, int]:
        """(height, width) of the target this item yields, from the file headers."""
        pair, s = self.pairs[index], self.scale
        h, w = self.store.size(pair.input if pair.input is not None else pair.target)
        if pair.input is None:
            h, w = h // s, w // s
        if self.crop is not None:
            h, w = min(h, self.crop // s), min(w, self.crop // s)
        return h * s, w * s

    def __getitem__(self, index: int) -> dict:
        pair, s = self.pairs[index], self.scale
        target = self.store(pair.target)
        inp = self.store(pair.input) if pair.input is not None else None
        # work on the input's grid: the target is s times it
        if inp is not None:
            h, w = inp.shape[:2]
        else:
            h, w = target.shape[0] // s, target.shape[1] // s
        top = left = 0
        if self.crop is not None:
            ch, cw = min(h, self.crop // s), min(w, self.crop // s)
            top, left = (h - ch) // 2, (w - cw) // 2
            h, w = ch, cw
        item = {"target": _to_tensor(target[top * s : (top + h) * s, left * s : (left + w) * s])}
        if inp is not None:
            item["input"] = _to_tensor(inp[top : top + h, left : left + w])
        item.update(seed=self.seed, index=index, name=pair.name)
        if self.report_gray:
            item["gray"] = self.store.is_gray(pair.target)
        return item


class PairedDataModule(RestorationDataModule):
    """Base of the datamodules over pairs on disk (paired folders, GoPro, RealBlur, DIV2K).

    Subclasses implement ``list_pairs()`` returning ``{"train": [...], "val": [...], "test":
    [...]}`` (lists of :class:`Pair`; any may be empty). Extra ``test_sets`` (name -> folder) are
    read as paired folders when they hold ``input/`` and ``target/``, as clean folders otherwise.
    The decoded images live in an :class:`ImageStore` (``cache``: "memory", true = disk cache
    under ``cache_dir``, or false).
    """

    LAYOUT = ""  # the expected on-disk layout, for error messages
    report_gray = False  # eval items carry ``gray`` (single-channel file), for SR scoring

    def __init__(
        self,
        cache: bool | str = "memory",
        cache_dir: str | None = None,
        scale: int = 1,
        eval_batch_size: int | None = None,
        **kwargs,
    ):
        scales = tuple(kwargs.pop("scales", (1.0,)))
        if scales != (1.0,):
            raise ConfigError("data.scales (rescaled copies) is not supported for paired data")
        super().__init__(**kwargs)
        self.cache = cache_mode(cache)
        self.cache_dir = cache_dir
        self.scale = int(scale)
        self.eval_batch_size = eval_batch_size
        self.pairs: dict[str, list[Pair]] = {}
        self.test_pairs: dict[str, list[Pair]] = {}

    # -- what subclasses provide -------------------------------------------------------------
    def list_pairs(self) -> dict[str, list[Pair]]:
        raise NotImplementedError

    def default_cache_dir(self) -> Path:
        raise ConfigError(f"{type(self).__name__}: set data.cache_dir for the disk cache")

    def store_root(self) -> Path | None:
        """Folder the disk cache mirrors (paths outside it are cached under ``_external``)."""
        return None

    def load_test_set(self, name: str, folder: str | Path) -> list[Pair]:
        folder = Path(folder)
        if (folder / "input").is_dir() and (folder / "target").is_dir():
            return pair_folders(folder / "input", folder / "target")
        return [Pair(p.stem, p) for p in list_images(folder, f"test set {name!r} folder")]

    # -- lightning hooks ---------------------------------------------------------------------
    def _make_store(self) -> ImageStore:
        cache_dir = self.cache_dir
        if self.cache == "disk" and cache_dir is None:
            cache_dir = self.default_cache_dir()
        return ImageStore(self.channels, self.cache, cache_dir, self.store_root())

    def _list_all(self) -> tuple[dict[str, list[Pair]], dict[str, list[Pair]]]:
        pairs = {k: list(v) for k, v in self.list_pairs().items()}
        tests: dict[str, list[Pair]] = {}
        if pairs.get("test"):
            tests[self.default_test_name] = pairs["test"]
        for name, folder in self.extra_test_sets.items():
            tests[name] = self.load_test_set(name, folder)
        return pairs, tests

    @staticmethod
    def _paths(groups: Iterable[Sequence[Pair]]) -> list[Path]:
        return [
            path
            for pairs in groups
            for pair in pairs
            for path in (pair.target, pair.input)
            if path is not None
        ]

    def prepare_data(self) -> None:
        """Fill the disk cache (once, on one process per node) before ``setup``."""
        if self.cache != "disk":
            return
        pairs, tests = self._list_all()
        self._make_store().build(self._paths([*pairs.values(), *tests.values()]))

    def setup(self, stage: str | None = None) -> None:
        if self._loaded:
            return
        self.pairs, self.test_pairs = self._list_all()
        self.store = self._make_store()
        groups = [*self.pairs.values(), *self.test_pairs.values()]
        self.store.preload(self._paths(groups))
        for pairs in groups:
            check_pairs(pairs, self.store, self.scale)
        self._loaded = True

    @property
    def test_set_names(self) -> list[str]:
        self.setup()
        return list(self.test_pairs)

    def train_dataloader(self) -> DataLoader:
        self.setup()
        if not self.pairs.get("train"):
            raise DataError(f"{type(self).__name__} has no training pairs: {self.LAYOUT}")
        dataset = PairedPatchDataset(
            self.pairs["train"],
            self.store,
            self.patch_size,
            self.patches_per_epoch,
            self.augment,
            self.scale,
        )
        return self._loader(dataset, self.batch_size)

    def _eval_loader(self, pairs: list[Pair], crop: int | None) -> DataLoader:
        dataset = PairedImageDataset(
            pairs, self.store, self.eval_seed, crop, self.scale, self.report_gray
        )
        # Batched only when every item has the same size: all crops at once (as the base class),
        # whole images by ``eval_batch_size`` (default 1: 2K images would not fit together).
        sizes = {dataset.output_size(i) for i in range(len(dataset))}
        batch = 1
        if len(sizes) == 1:
            batch = self.eval_batch_size or (len(dataset) if crop is not None else 1)
        return self._loader(dataset, batch)

    def val_dataloader(self):
        self.setup()
        if not self.pairs.get("val"):
            return []
        return self._eval_loader(self.pairs["val"], self.val_crop)

    def test_dataloader(self) -> list[DataLoader]:
        self.setup()
        if not self.test_pairs:
            raise DataError(f"{type(self).__name__} has no test pairs: set data.test_sets")
        # Whole images: batched only when every image of the set has the same size.
        return [self._eval_loader(pairs, None) for pairs in self.test_pairs.values()]


def split_by_ratio(
    items: Sequence, split: Sequence[float], seed: int, what: str
) -> tuple[list, list, list]:
    """Shuffle ``items`` with ``RandomState(seed)`` and cut them by the three fractions."""
    if len(split) != 3 or abs(sum(split) - 1) > 1e-6 or min(split) < 0:
        raise ConfigError(f"data.split must be three fractions summing to 1, got {list(split)}")
    order = np.random.RandomState(seed).permutation(len(items))
    n_train = round(split[0] * len(items))
    n_val = round(split[1] * len(items))
    if n_train == 0:
        raise DataError(f"{what} has too few items ({len(items)}) to split by {list(split)}")
    picked = [items[i] for i in order]
    return picked[:n_train], picked[n_train : n_train + n_val], picked[n_train + n_val :]


class PairedFolderDataModule(PairedDataModule):
    """Your own pairs: ``root/{train,val,test}/{input,target}/`` or ``root/{input,target}/``.

    Files pair by name (``input/0001.png`` with ``target/0001.png``; extensions may differ).
    With ``split: [0.8, 0.1, 0.1]`` the pairs of ``root/{input,target}`` are shuffled with
    ``split_seed`` and divided by pair. ``scale`` > 1 reads super-resolution pairs (input 1/scale
    of the target). Images are decoded once into memory unless ``cache`` says otherwise.
    """

    LAYOUT = (
        "expected root/{train,val,test}/{input,target}/ (val and test optional) or, with "
        "data.split, root/{input,target}/ with matching file names"
    )

    def __init__(
        self,
        root: str | None,
        split: Sequence[float] | None = None,
        split_seed: int = 0,
        **kwargs,
    ):
        kwargs.setdefault("default_test_name", "test")
        super().__init__(**kwargs)
        self.root = Path(root) if root is not None else None
        self.split = tuple(split) if split is not None else None
        self.split_seed = split_seed

    def default_cache_dir(self) -> Path:
        if self.root is None:
            return super().default_cache_dir()
        return self.root / ".cache" / "restore"

    def store_root(self) -> Path | None:
        return self.root

    def list_pairs(self) -> dict[str, list[Pair]]:
        if self.root is None:
            return {}
        if not self.root.is_dir():
            raise DataError(f"data.root {self.root} does not exist: {self.LAYOUT}")
        if self.split is not None:
            if not (self.root / "input").is_dir() or not (self.root / "target").is_dir():
                raise DataError(f"data.root {self.root} has no input/ and target/: {self.LAYOUT}")
            pairs = pair_folders(self.root / "input", self.root / "target")
            train, val, test = split_by_ratio(pairs, self.split, self.split_seed, str(self.root))
            return {"train": train, "val": val, "test": test}
        if not (self.root / "train").is_dir():
            raise DataError(f"data.root {self.root} has no train/ folder: {self.LAYOUT}")
        out = {}
        for split in ("train", "val", "test"):
            folder = self.root / split
            if split == "train" or folder.is_dir():
                out[split] = pair_folders(folder / "input", folder / "target")
        return out


__all__ = [
    "CACHE_MODES",
    "ImageStore",
    "Pair",
    "PairedDataModule",
    "PairedFolderDataModule",
    "PairedImageDataset",
    "PairedPatchDataset",
    "check_pairs",
    "pair_folders",
    "split_by_ratio",
]
