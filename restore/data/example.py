"""What a layout lists: examples (a clean target and, for real degraded data, its input) per split.

A *layout* is a function that reads a dataset's on-disk (or in-package) organisation and returns
:class:`Splits`; everything after it (decoding, caching, patches, evaluation items, loaders) is
shared by every dataset (:mod:`restore.data.datamodule`). Sources are files, decoded by
:class:`~restore.data.store.ImageStore`, or arrays already decoded (photos bundled in a package,
torchvision's binary sets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

Source = Path | np.ndarray


class Example(NamedTuple):
    """One image of a dataset: the clean ``target`` and its degraded ``input`` (or None, then the
    task degrades the target on the device).

    ``gray``: whether the image is single-channel at heart (None: read from the file's header);
    SR tables score such images as gray. ``mask``: the image's own inpainting mask (white =
    known), as benchmarks pair them (Deep Image Prior's ``kate.png`` and ``kate_mask.png``); the
    task then hides its holes instead of drawing a mask.
    """

    name: str
    target: Source
    input: Source | None = None
    gray: bool | None = None
    mask: Path | None = None


@dataclass
class Splits:
    """The examples of a dataset: training, validation and named test sets.

    ``root`` is the folder the dataset lives in: the decode-once disk cache mirrors it (under
    ``root/.cache/restore`` unless ``data.cache_dir`` says otherwise).
    """

    train: list[Example] = field(default_factory=list)
    val: list[Example] = field(default_factory=list)
    test: dict[str, list[Example]] = field(default_factory=dict)
    root: Path | None = None

    def paths(self) -> list[Path]:
        """Every file the splits read (for filling the disk cache)."""
        groups = [self.train, self.val, *self.test.values()]
        return [
            src
            for group in groups
            for ex in group
            for src in (ex.target, ex.input)
            if isinstance(src, Path)
        ]


__all__ = ["Example", "Source", "Splits"]
