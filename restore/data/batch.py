"""The typed batch every dataloader yields and every task, callback and tool reads.

Datasets return one dict per image (``target`` and, where they have them, ``input``, ``mask``,
``seed``, ``index``, ``name``, ``gray``); :func:`collate_batch` stacks them into a
:class:`Batch`. Lightning moves dataclasses to the device field by field. The task fills in the
degraded input and what is known about it (:class:`~restore.degradations.Observation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from torch import Tensor
from torch.utils.data import default_collate

from restore.degradations.base import Observation


@dataclass
class Batch:
    """A batch of images (B, C, H, W), uint8 as loaded or float in [0, 1] on the device.

    Attributes:
        target: the clean images.
        input: the degraded images: a real degraded photo from a paired dataset, or the
            observation the task made from ``target``.
        mask: (B, 1, H, W), 1 where a pixel is known (inpainting); from the data or the task.
        seed: (B,) per-image seeds of the reproducible val/test degradation.
        index: (B,) positions of the images in their dataset.
        name: the images' names (file stems), for per-image reports.
        gray: (B,) whether each image is gray at heart (SR benchmarks replicate gray to RGB).
        observation: how ``input`` was made (operator, scale, data term), when the task made it.
    """

    target: Tensor
    input: Tensor | None = None
    mask: Tensor | None = None
    seed: Tensor | None = None
    index: Tensor | None = None
    name: list[str] | None = None
    gray: Tensor | None = None
    observation: Observation | None = None

    @classmethod
    def of(cls, batch: Batch | Mapping[str, Any]) -> Batch:
        """``batch`` itself, or the Batch of a mapping with the same keys (a custom loader)."""
        if isinstance(batch, Batch):
            return batch
        known = {f.name for f in fields(cls)}
        unknown = set(batch) - known
        if unknown:
            raise KeyError(f"batch keys {sorted(unknown)} are not Batch fields {sorted(known)}")
        return cls(**dict(batch))

    def replace(self, **changes: Any) -> Batch:
        return replace(self, **changes)

    def present(self) -> set[str]:
        """The names of the fields that are set."""
        return {f.name for f in fields(self) if getattr(self, f.name) is not None}

    def __len__(self) -> int:
        return self.target.shape[0]

    def head(self, n: int) -> Batch:
        """The first ``n`` images (the observation's operator, bound to the whole batch, is
        dropped; its input and mask are the fields)."""
        cut = {
            f.name: getattr(self, f.name)[:n]
            for f in fields(self)
            if f.name != "observation" and getattr(self, f.name) is not None
        }
        return Batch(**cut)

    def names(self, default_start: int = 0) -> list[str]:
        """Image names, or running numbers when the dataset has none."""
        if self.name is not None:
            return list(self.name)
        return [str(default_start + i) for i in range(len(self))]


def collate_batch(samples: Sequence[Mapping[str, Any]]) -> Batch:
    """Stack per-image dicts into a :class:`Batch` (torch's default collation per field)."""
    return Batch.of(default_collate(list(samples)))
