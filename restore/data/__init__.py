"""The data layer (the ``data`` config group): layouts list examples, one datamodule serves them.

- :mod:`restore.data.layouts` and the dataset modules (``deblur``, ``div2k``, ``sr_benchmark``,
  ``torchvision_sets``): one function per on-disk layout, returning :class:`Splits`;
- :mod:`restore.data.store`: decoding once (memory, a memory-mapped disk cache, or none);
- :mod:`restore.data.datasets`: the patch dataset and the evaluation dataset;
- :mod:`restore.data.datamodule`: the one LightningDataModule;
- :mod:`restore.data.batch`: the typed batch every loader yields.
"""

from restore.data.batch import Batch, collate_batch
from restore.data.datamodule import RestorationDataModule
from restore.data.datasets import EvalDataset, PatchDataset
from restore.data.example import Example, Splits
from restore.data.store import ImageStore

__all__ = [
    "Batch",
    "EvalDataset",
    "Example",
    "ImageStore",
    "PatchDataset",
    "RestorationDataModule",
    "Splits",
    "collate_batch",
]
