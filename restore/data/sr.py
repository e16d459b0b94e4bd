"""Super-resolution data: HR training patches, and benchmark test sets with their LR files.

The benchmark sets (Set5, Set14, ... in the SelfExSR or EDSR layout, read by
``restore.data.sr_benchmark``) are scored on their published LR images: their batches carry the
LR file as ``input`` (the task then does not downscale) and a ``gray`` flag for single-channel
images (scored as gray, as published). Training and validation images are plain HR images, the
task making their LR on the device.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from torch.utils.data import DataLoader

from restore.data.datamodules import EmbeddedDataModule, FolderDataModule, RestorationDataModule
from restore.data.datasets import ImageDataset
from restore.data.sr_benchmark import SRBenchmarkDataset
from restore.utils.errors import DataError


class SRBenchmarkDataModule(RestorationDataModule):
    """SR benchmarks as test sets, plus optional HR training data.

    Args:
        scale: the SR factor: picks ``image_SRF_{scale}`` (or ``LR_bicubic/X{scale}``).
        benchmarks: test set name -> benchmark folder.
        train_data: ``"embedded"`` (the scikit-image photos of ``EmbeddedDataModule``, whose test
            photos become the test set ``embedded``), a folder laid out as ``FolderDataModule``'s
            ``root`` (train/, val/, test/), or None for test-only use.
        **kwargs: the ``RestorationDataModule`` options (channels, patch_size = HR patch, ...).
    """

    def __init__(
        self,
        scale: int,
        benchmarks: Mapping[str, str] | None = None,
        train_data: str | None = None,
        **kwargs,
    ):
        if train_data == "embedded":
            kwargs.setdefault("default_test_name", "embedded")
        super().__init__(**kwargs)
        if int(scale) < 1:
            raise ValueError(f"data.scale must be >= 1, got {scale}")
        self.scale = int(scale)
        self.benchmarks = {name: Path(root) for name, root in (benchmarks or {}).items()}
        self.train_data = train_data
        self.benchmark_sets: dict[str, SRBenchmarkDataset] = {}

    def load_splits(self):
        if self.train_data is None:
            return [], [], []
        if self.train_data == "embedded":
            return EmbeddedDataModule(channels=self.channels).load_splits()
        return FolderDataModule(root=self.train_data, channels=self.channels).load_splits()

    def setup(self, stage: str | None = None) -> None:
        if self._loaded:
            return
        super().setup(stage)
        self.benchmark_sets = {
            name: SRBenchmarkDataset(root, self.scale, self.channels, require_lr=True)
            for name, root in self.benchmarks.items()
        }

    @property
    def test_set_names(self) -> list[str]:
        self.setup()
        return [*self.test_images, *self.benchmark_sets]

    def test_dataloader(self) -> list[DataLoader]:
        self.setup()
        # batch size 1: test images differ in size and are never resized
        loaders = [
            self._loader(ImageDataset(im, self.eval_seed), 1) for im in self.test_images.values()
        ]
        loaders += [self._loader(ds, 1) for ds in self.benchmark_sets.values()]
        if not loaders:
            raise DataError("SRBenchmarkDataModule has no test set: set data.benchmarks")
        return loaders
