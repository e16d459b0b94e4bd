"""The one LightningDataModule: a layout's examples, decoded once, as patches and whole images.

Every dataset is a *layout* (a function returning :class:`~restore.data.example.Splits`, see
:mod:`restore.data.layouts`) plus this datamodule's options in one YAML of ``conf/data``::

    _target_: restore.data.RestorationDataModule
    layout:
      _target_: restore.data.layouts.folder
      _partial_: true
      root: ${paths.data_dir}/my_images

Clean examples are degraded on the device by the task (see ``restore.tasks``), so any degradation
pairs with any dataset; examples with an ``input`` (a real blurred photo, an LR file) are used as
they are. Every test set is reported under its own name (``test/<name>/psnr``); ``test_sets``
(name -> folder) adds folders in any layout :func:`~restore.data.layouts.test_folder` detects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from restore.data.batch import Batch, collate_batch
from restore.data.datasets import EvalDataset, PatchDataset
from restore.data.example import Example, Splits
from restore.data.layouts import test_folder
from restore.data.resident import ResidentPatches
from restore.data.store import ImageStore, cache_mode
from restore.imaging import to_channels
from restore.utils.errors import ConfigError, DataError

Layout = Callable[[], Splits]


class RestorationDataModule(L.LightningDataModule):
    """Training patches, validation images and named test sets of one layout.

    Args:
        layout: a function returning the dataset's :class:`Splits` (a Hydra ``_partial_`` of a
            layout function); None for a datamodule that holds only ``test_sets``.
        channels: 1 (gray: colour files become their ITU-R 601 luma) or 3 (colour).
        patch_size: training patch side in target pixels (a multiple of ``scale``).
        batch_size, patches_per_epoch: training patches per batch and per "epoch".
        scales: rescaled copies of the clean training images (DnCNN: 1, 0.9, 0.8, 0.7).
        scale: the input is ``1/scale`` of the target (super-resolution pairs); 1 otherwise.
        augment: the 8 dihedral flips/rotations of every patch.
        val_crop, test_crop: the centred crop of each validation/test image (None: whole).
        eval_seed: the noise seed of every evaluation image (the protocols reseed per image).
        eval_batch_size: evaluation batch when all images of a set have one size (default:
            every crop of the validation set at once, test images one by one).
        num_workers: DataLoader workers.
        resident: keep the training images on the training device and draw every batch there in
            one gather (:class:`~restore.data.resident.ResidentPatches`; clean images only):
            no loader workers, no host-to-device copy of the patches. For small networks on a
            GPU, where the workers are the bottleneck.
        cache: "memory" (decode once, keep), true/"disk" (memory-mapped ``.npy`` cache under
            ``cache_dir``, default ``<dataset root>/.cache/restore``) or false (decode per use).
        test_sets: extra test sets, name -> folder.
    """

    def __init__(
        self,
        layout: Layout | None = None,
        channels: int = 1,
        patch_size: int = 40,
        batch_size: int = 64,
        patches_per_epoch: int = 6400,
        scales: Sequence[float] = (1.0,),
        scale: int = 1,
        augment: bool = True,
        val_crop: int | None = 256,
        test_crop: int | None = None,
        eval_seed: int = 0,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        resident: bool = False,
        cache: bool | str | None = "memory",
        cache_dir: str | None = None,
        test_sets: Mapping[str, str] | None = None,
    ):
        super().__init__()
        if channels not in (1, 3):
            raise ConfigError(f"data.channels must be 1 (gray) or 3 (color), got {channels}")
        if int(scale) < 1:
            raise ConfigError(f"data.scale must be >= 1, got {scale}")
        self.layout = layout
        self.channels = channels
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.patches_per_epoch = patches_per_epoch
        self.scales = tuple(scales)
        self.scale = int(scale)
        self.augment = augment
        self.val_crop = val_crop
        self.test_crop = test_crop
        self.eval_seed = eval_seed
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.resident = bool(resident)
        self.cache = cache_mode(cache)
        self.cache_dir = cache_dir
        self.extra_test_sets = dict(test_sets or {})
        self._splits: Splits | None = None
        self._loaded = False
        self._resident: ResidentPatches | None = None

    # -- listing -----------------------------------------------------------------------------
    def splits(self) -> Splits:
        """The layout's splits plus ``test_sets``, listed once (no pixel decoded)."""
        if self._splits is None:
            splits = self.layout() if self.layout is not None else Splits()
            if not isinstance(splits, Splits):
                raise ConfigError(
                    f"data.layout returned {type(splits).__name__}, not Splits: a layout is a "
                    "function returning restore.data.Splits"
                )
            for name, folder in self.extra_test_sets.items():
                splits.test[name] = test_folder(folder, name, self.scale)
            self._splits = splits
        return self._splits

    def _make_store(self, splits: Splits) -> ImageStore:
        cache_dir = self.cache_dir
        if self.cache == "disk" and cache_dir is None:
            if splits.root is None:
                raise ConfigError("the disk cache (data.cache=true) needs data.cache_dir here")
            cache_dir = Path(splits.root) / ".cache" / "restore"
        return ImageStore(self.channels, self.cache, cache_dir, splits.root)

    def _decoded(self, examples: list[Example]) -> list[Example]:
        # array sources (decoded by the layout) get the configured channels once, here
        out = []
        for ex in examples:
            if isinstance(ex.target, np.ndarray):
                gray = ex.target.ndim == 2 or ex.target.shape[2] == 1
                inp = ex.input
                if isinstance(inp, np.ndarray):
                    inp = to_channels(inp, self.channels)
                ex = Example(ex.name, to_channels(ex.target, self.channels), inp, gray)
            out.append(ex)
        return out

    # -- lightning hooks ---------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Fill the disk cache (once, on one process per node) before ``setup``."""
        if self.cache == "disk":
            splits = self.splits()
            self._make_store(splits).build(splits.paths())

    def setup(self, stage: str | None = None) -> None:
        if self._loaded:
            return
        splits = self.splits()
        self.train_examples = self._decoded(splits.train)
        self.val_examples = self._decoded(splits.val)
        self.test_examples = {k: self._decoded(v) for k, v in splits.test.items()}
        self.store = self._make_store(splits)
        self.store.preload(splits.paths())
        groups = [self.train_examples, self.val_examples, *self.test_examples.values()]
        for examples in groups:
            check_sizes(examples, self.store, self.scale)
        self._loaded = True

    @property
    def test_set_names(self) -> list[str]:
        self.setup()
        return list(self.test_examples)

    def _loader(self, dataset, batch_size: int, batch_sampler=None) -> DataLoader:
        sampling = (
            {"batch_sampler": batch_sampler}
            if batch_sampler is not None
            else {
                "batch_size": batch_size,
                "shuffle": False,  # patches are drawn at random already
                "drop_last": False,
            }
        )
        return DataLoader(
            dataset,
            **sampling,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=collate_batch,
        )

    def test_dataset(self, name: str) -> EvalDataset:
        """The test set ``name`` as its loader yields it (cropped, seeded, modcropped)."""
        self.setup()
        if name not in self.test_examples:
            raise ConfigError(
                f"no test set {name!r} in the data config: it has {self.test_set_names}"
            )
        return self._eval_dataset(self.test_examples[name], self.test_crop)

    def _eval_dataset(self, examples: list[Example], crop: int | None) -> EvalDataset:
        return EvalDataset(examples, self.store, self.eval_seed, crop, self.scale)

    def _eval_loader(self, dataset: EvalDataset, whole_set: bool) -> DataLoader:
        # One size: ``eval_batch_size``, else all crops of the validation set at once and test
        # images one by one (2K images would not fit together). Several sizes (BSD68's portrait
        # and landscape images): batches of up to ``eval_batch_size`` images of one size.
        sizes = [dataset.output_size(i) for i in range(len(dataset))]
        if len(set(sizes)) == 1:
            return self._loader(dataset, self.eval_batch_size or (len(dataset) if whole_set else 1))
        if not self.eval_batch_size or self.eval_batch_size == 1:
            return self._loader(dataset, 1)
        return self._loader(
            dataset, 1, batch_sampler=same_size_batches(sizes, self.eval_batch_size)
        )

    def train_dataloader(self) -> DataLoader:
        self.setup()
        if not self.train_examples:
            raise DataError(
                "the data config has no training images: set data.layout (its root) to a "
                "dataset with a training split"
            )
        dataset = PatchDataset(
            self.train_examples,
            self.store,
            self.patch_size,
            self.patches_per_epoch,
            self.augment,
            self.scale,
            self.scales,
        )
        if self.resident:
            self._resident = ResidentPatches(
                dataset, self.batch_size, self._device(), self._resident_seed()
            )
            return DataLoader(
                self._resident,
                batch_size=None,  # every item is a whole batch, drawn on the device
                collate_fn=_as_is,
            )
        return self._loader(dataset, self.batch_size)

    def reshape_patches(self, patch_size: int, batch_size: int) -> None:
        """Train on ``batch_size`` patches of ``patch_size`` from the next batch on (what
        :class:`~restore.callbacks.PatchSchedule` calls). Needs ``data.resident=true``: the
        worker loader's patch size is fixed when its workers start."""
        if self._resident is None:
            raise ConfigError(
                "callbacks.patch_schedule changes the patch size during training, which needs "
                "the patches drawn in the training process: set data.resident=true"
            )
        self._resident.reshape(patch_size, batch_size)
        self.patch_size, self.batch_size = int(patch_size), int(batch_size)

    def _device(self) -> torch.device:
        """The training device (this process's, under DDP), or the CPU outside a Trainer."""
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def _resident_seed(self) -> int:
        """The run's seed (``seed_everything``'s) and this process's rank: each DDP rank draws its
        own patches."""
        trainer = getattr(self, "trainer", None)
        rank = trainer.global_rank if trainer is not None else 0
        return (torch.initial_seed() * 1_000_003 + rank) % 2**63

    def val_dataloader(self):
        self.setup()
        if not self.val_examples:
            return []
        dataset = self._eval_dataset(self.val_examples, self.val_crop)
        return self._eval_loader(dataset, whole_set=self.val_crop is not None)

    def test_dataloader(self) -> list[DataLoader]:
        self.setup()
        if not self.test_examples:
            raise DataError("the data config has no test images: set data.test_sets")
        return [
            self._eval_loader(self.test_dataset(name), whole_set=False)
            for name in self.test_examples
        ]


def _as_is(batch: Batch) -> Batch:
    return batch


def check_sizes(examples: Sequence[Example], store: ImageStore, scale: int = 1) -> None:
    """Every input must be the target's size (``scale`` 1) or 1/scale of it, up to the target
    being cropped to a multiple of ``scale``; raises DataError naming both files otherwise."""
    for ex in examples:
        if ex.input is None:
            continue
        (th, tw), (ih, iw) = store.size(ex.target), store.size(ex.input)
        if not (0 <= th - ih * scale < scale and 0 <= tw - iw * scale < scale):
            want = "the same size" if scale == 1 else f"1/{scale} of it (data.scale={scale})"
            raise DataError(
                f"example {ex.name!r}: target {ex.target} is {tw}x{th} but input {ex.input} "
                f"is {iw}x{ih}; the input must be {want}"
            )


def same_size_batches(sizes: Sequence, batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of up to ``batch_size`` items of one size, in first-seen order
    of the sizes and in dataset order within a size.

    >>> same_size_batches([(2, 3), (3, 2), (2, 3), (2, 3)], 2)
    [[0, 2], [3], [1]]
    """
    groups: dict = {}
    for index, size in enumerate(sizes):
        groups.setdefault(size, []).append(index)
    return [
        indices[start : start + batch_size]
        for indices in groups.values()
        for start in range(0, len(indices), batch_size)
    ]


__all__ = ["Layout", "RestorationDataModule", "check_sizes", "same_size_batches"]
