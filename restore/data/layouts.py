"""Layouts: functions that list a dataset's examples per split, one per on-disk organisation.

A layout reads file names (never pixels) and returns :class:`~restore.data.example.Splits`; the
one datamodule (:class:`~restore.data.datamodule.RestorationDataModule`) does the rest. A new
dataset in a new layout is one function (here or in a module of its own) plus one YAML in
``conf/data`` whose ``layout`` node is a ``_partial_`` of it (``docs/extending.md`` shows one).

Layouts here: :func:`folder` (your clean images), :func:`paired_folder` (input/ and target/
folders), :func:`flat_pairs` (``NAME_input.png`` beside ``NAME_target.png``), :func:`embedded`
(photos bundled in scikit-image) and :func:`test_folder` (what a ``data.test_sets`` folder holds,
detected; ``NAME_mask`` files there are the inpainting masks of ``NAME``). Dataset-specific
ones live beside their documentation: ``restore.data.deblur`` (GoPro, RealBlur),
``restore.data.div2k``, ``restore.data.sr_benchmark`` (Set5, Set14, ... in both SR layouts) and
``restore.data.torchvision_sets`` (STL-10, CIFAR-100).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from restore.data.example import Example, Splits
from restore.data.sr_benchmark import is_sr_benchmark, sr_benchmark
from restore.imaging import list_images
from restore.utils.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")


# -- helpers every layout shares ---------------------------------------------------------------
def split_by_ratio(
    items: Sequence, split: Sequence[float], seed: int, what: str
) -> tuple[list, list, list]:
    """Shuffle ``items`` with ``RandomState(seed)`` and cut them by the three fractions.

    >>> split_by_ratio(list("abcdefghij"), [0.8, 0.1, 0.1], 0, "demo")
    (['c', 'i', 'e', 'j', 'b', 'g', 'h', 'd'], ['a'], ['f'])
    """
    if len(split) != 3 or abs(sum(split) - 1) > 1e-6 or min(split) < 0:
        raise ConfigError(
            f"data.layout.split must be three fractions summing to 1, got {list(split)}"
        )
    order = np.random.RandomState(seed).permutation(len(items))
    n_train = round(split[0] * len(items))
    n_val = round(split[1] * len(items))
    if n_train == 0:
        raise DataError(f"{what} has too few items ({len(items)}) to split by {list(split)}")
    picked = [items[i] for i in order]
    return picked[:n_train], picked[n_train : n_train + n_val], picked[n_train + n_val :]


def spread(items: list, count: int) -> list:
    """``count`` items evenly spaced over ``items`` (all when there are fewer).

    >>> spread(list(range(10)), 3)
    [0, 4, 9]
    """
    if count <= 0 or not items:
        return []
    if count >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def clean_images(folder: str | Path, what: str = "image folder") -> list[Example]:
    """The images of ``folder`` as clean examples named by file stem, sorted."""
    return [Example(p.stem, p) for p in list_images(folder, what)]


def pair_folders(input_dir: Path, target_dir: Path, prefix: str = "") -> list[Example]:
    """Pair the images of two folders by file name (stem: ``x.png`` pairs with ``x.jpg``)."""
    inputs = {p.stem: p for p in list_images(input_dir, "input folder")}
    targets = {p.stem: p for p in list_images(target_dir, "target folder")}
    return _match(inputs, targets, str(input_dir), str(target_dir), prefix)


def _match(
    inputs: Mapping[str, Path], targets: Mapping[str, Path], here: str, there: str, prefix: str
) -> list[Example]:
    only_in = sorted(set(inputs) - set(targets)), sorted(set(targets) - set(inputs))
    if only_in[0] or only_in[1]:
        parts = []
        for names, a, b in ((only_in[0], here, there), (only_in[1], there, here)):
            if names:
                more = f" (+{len(names) - 5} more)" if len(names) > 5 else ""
                shown = ", ".join(names[:5]) + more
                parts.append(f"{len(names)} image(s) of {a} have no partner in {b}: {shown}")
        raise DataError("; ".join(parts) + ". Inputs and targets must have the same names.")
    return [Example(prefix + stem, targets[stem], inputs[stem]) for stem in sorted(targets)]


def _by_split(root: Path, list_split, split, split_seed, layout_help: str) -> Splits:
    """``root/{train,val,test}`` (train required) or, with ``split``, ``root`` divided by ratio."""
    if not root.is_dir():
        raise DataError(f"data.layout.root {root} does not exist: {layout_help}")
    if split is not None:
        train, val, test = split_by_ratio(list_split(root), split, split_seed, str(root))
        return Splits(train, val, {"test": test} if test else {}, root)
    if not (root / "train").is_dir():
        raise DataError(
            f"data.layout.root {root} has no train/ folder: {layout_help}, or set "
            "data.layout.split=[0.8,0.1,0.1] to split the images of the folder itself"
        )
    found = {s: list_split(root / s) for s in SPLITS if s == "train" or (root / s).is_dir()}
    test = found.get("test")
    return Splits(found["train"], found.get("val", []), {"test": test} if test else {}, root)


# -- layouts -----------------------------------------------------------------------------------
def folder(
    root: str | Path | None, split: Sequence[float] | None = None, split_seed: int = 0
) -> Splits:
    """Your own clean images: ``root/{train,val,test}/`` or one folder split by ratio.

    With ``split: [0.8, 0.1, 0.1]`` the images of ``root`` itself are shuffled with
    ``split_seed`` and divided by image. ``root: null`` lists nothing (a test-only datamodule).
    """
    if root is None:
        return Splits()
    return _by_split(
        Path(root),
        lambda f: clean_images(f, f"{Path(f).name} folder"),
        split,
        split_seed,
        "lay it out as train/, val/, test/ (val and test optional)",
    )


def paired_folder(
    root: str | Path | None, split: Sequence[float] | None = None, split_seed: int = 0
) -> Splits:
    """Your own pairs: ``root/{train,val,test}/{input,target}/`` or ``root/{input,target}/``.

    Files pair by name (``input/0001.png`` with ``target/0001.png``; extensions may differ).
    With ``split`` the pairs of ``root/{input,target}`` are divided by pair; with
    ``data.scale`` > 1 the inputs are 1/scale of their targets (super-resolution pairs).
    """
    if root is None:
        return Splits()
    help_ = "expected root/{train,val,test}/{input,target}/ or, with split, root/{input,target}/"

    def pairs(f: Path) -> list[Example]:
        if not (f / "input").is_dir() or not (f / "target").is_dir():
            raise DataError(f"{f} has no input/ and target/ folders: {help_}")
        return pair_folders(f / "input", f / "target")

    return _by_split(Path(root), pairs, split, split_seed, help_)


def flat_pairs(
    root: str | Path | None,
    split: Sequence[float] | None = None,
    split_seed: int = 0,
    input_suffix: str = "_input",
    target_suffix: str = "_target",
) -> Splits:
    """Pairs side by side in one folder: ``NAME_input.png`` and ``NAME_target.png`` (any image
    suffix), in ``root/{train,val,test}/`` or, with ``split``, in ``root`` itself.

    >>> import tempfile, PIL.Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("a_input", "a_target", "b_input", "b_target"):
    ...     PIL.Image.new("L", (8, 8)).save(root / f"{name}.png")
    >>> splits = flat_pairs(root, split=[0.5, 0.5, 0.0])
    >>> [(ex.name, ex.input.name, ex.target.name) for ex in splits.train]
    [('b', 'b_input.png', 'b_target.png')]
    """
    if root is None:
        return Splits()

    def pairs(f: Path) -> list[Example]:
        files = list_images(f, "pairs folder")
        inputs = {
            p.stem.removesuffix(input_suffix): p for p in files if p.stem.endswith(input_suffix)
        }
        targets = {
            p.stem.removesuffix(target_suffix): p for p in files if p.stem.endswith(target_suffix)
        }
        if not targets:
            raise DataError(
                f"{f} holds no NAME{target_suffix}.* images beside NAME{input_suffix}.*"
            )
        return _match(inputs, targets, f"{f} (*{input_suffix})", f"*{target_suffix}", "")

    help_ = f"expected NAME{input_suffix}.png + NAME{target_suffix}.png in root/{{train,val,test}}/"
    return _by_split(Path(root), pairs, split, split_seed, help_)


# Natural photographs bundled inside scikit-image (no download), split by image, never by patch.
EMBEDDED_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "coffee", "rocket", "motorcycle", "brick", "grass", "gravel", "moon"),
    "val": ("coins", "hubble_deep_field"),
    "test": ("camera", "chelsea"),
}


def _skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


def embedded(splits: Mapping[str, Sequence[str]] | None = None) -> Splits:
    """Real photographs that ship inside scikit-image: the default data, usable offline.

    8 training photos (~2.0 Mpixel in all), 2 validation and 2 test photos (the test set
    ``embedded``: ``camera``, the cameraman, and ``chelsea``, the cat).
    """
    names = {k: tuple(v) for k, v in (splits or EMBEDDED_SPLITS).items()}
    overlap = set(names.get("train", ())) & (set(names.get("val", ())) | set(names.get("test", ())))
    if overlap:
        raise ConfigError(
            f"data.layout.splits: images {sorted(overlap)} are both in train and val/test"
        )

    def load(split: str) -> list[Example]:
        return [Example(n, _skimage_photo(n)) for n in names.get(split, ())]

    test = load("test")
    return Splits(load("train"), load("val"), {"embedded": test} if test else {})


def test_folder(folder: str | Path, name: str, scale: int = 1) -> list[Example]:
    """A ``data.test_sets`` folder, its layout detected: an SR benchmark (SelfExSR
    ``image_SRF_{s}/`` or EDSR ``HR/`` + ``LR_bicubic/X{s}/``, read at ``scale``; LR files used
    when present), ``input/`` + ``target/`` pairs, or a folder of clean images."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"test set {name!r} folder {folder} does not exist: check data.test_sets.{name}"
        )
    if is_sr_benchmark(folder):
        if scale == 1:
            raise ConfigError(
                f"test set {name!r} ({folder}) is a super-resolution benchmark: set data.scale "
                "(task=sr sets it from task.scale)"
            )
        return sr_benchmark(folder, scale, what=f"test set {name!r}")
    if (folder / "input").is_dir() and (folder / "target").is_dir():
        return pair_folders(folder / "input", folder / "target")
    return masked_images(clean_images(folder, f"test set {name!r} folder"))


MASK_SUFFIX = "_mask"


def masked_images(examples: list[Example]) -> list[Example]:
    """Images with their own inpainting masks, where a folder pairs them as Deep Image Prior's
    does (``kate.png`` and ``kate_mask.png``): the masks leave the list and join their images.

    >>> [(e.name, e.mask.name if e.mask else None) for e in masked_images(
    ...     [Example(n, Path(n + ".png")) for n in ("kate", "kate_mask", "vase")])]
    [('kate', 'kate_mask.png'), ('vase', None)]
    """
    masks = {
        e.name[: -len(MASK_SUFFIX)]: e.target for e in examples if e.name.endswith(MASK_SUFFIX)
    }
    masks = {k: v for k, v in masks.items() if any(e.name == k for e in examples)}
    if not masks:
        return examples
    return [
        e._replace(mask=masks.get(e.name))
        for e in examples
        if not (e.name.endswith(MASK_SUFFIX) and e.name[: -len(MASK_SUFFIX)] in masks)
    ]


__all__ = [
    "EMBEDDED_SPLITS",
    "clean_images",
    "embedded",
    "flat_pairs",
    "folder",
    "masked_images",
    "pair_folders",
    "paired_folder",
    "split_by_ratio",
    "spread",
    "test_folder",
]
