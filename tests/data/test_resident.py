"""Patches drawn on the device (``data.resident``): each one a dihedral transform of a crop, with
PatchDataset's distribution, through the datamodule's training loader."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from restore.data import Example, ImageStore, PatchDataset, RestorationDataModule
from restore.data.datasets import dihedral
from restore.data.layouts import folder
from restore.data.resident import ResidentPatches, dihedral_maps
from restore.utils.errors import ConfigError, DataError
from tests.data.test_datamodules import write_images


def _images(channels, sizes=((9, 11), (12, 10), (7, 8)), seed=0):
    rs = np.random.RandomState(seed)
    return [rs.randint(0, 256, (h, w, channels), dtype=np.uint8) for h, w in sizes]


def _patches(images, patch=4, ppe=64, augment=True):
    examples = [Example(f"im{i}", img) for i, img in enumerate(images)]
    return PatchDataset(examples, ImageStore(images[0].shape[2], "memory"), patch, ppe, augment)


def _origin(patch: np.ndarray, images, size: int):
    """Every (image, top, left, d) whose transformed crop is ``patch`` (H, W, C)."""
    found = []
    for k, img in enumerate(images):
        h, w = img.shape[:2]
        for top in range(h - size + 1):
            for left in range(w - size + 1):
                crop = img[top : top + size, left : left + size]
                found += [
                    (k, top, left, d) for d in range(8) if np.array_equal(dihedral(crop, d), patch)
                ]
    return found


def test_the_maps_are_the_dihedral_transforms():
    x = np.random.RandomState(0).randint(0, 256, (5, 5, 1))
    rows, cols = dihedral_maps(5)
    for d in range(8):
        np.testing.assert_array_equal(x[rows[d].numpy(), cols[d].numpy()], dihedral(x, d))


@pytest.mark.parametrize("channels", [1, 3])
def test_every_patch_is_a_transformed_crop_of_a_training_image(channels):
    images = _images(channels)
    torch.manual_seed(0)
    batch = ResidentPatches(_patches(images, ppe=40), batch_size=16, device="cpu")[0]
    assert batch.target.dtype == torch.uint8 and batch.target.shape == (16, channels, 4, 4)
    for patch in batch.target:
        assert len(_origin(patch.permute(1, 2, 0).numpy(), images, 4)) == 1


def test_batches_follow_the_worker_loaders_distribution():
    # PatchDataset: an image with probability proportional to its area, a uniform crop, one of
    # the 8 transforms uniformly. 3,000 patches: every frequency within 5 sigma of its expectation
    images = _images(1, sizes=((6, 6), (6, 12)))
    torch.manual_seed(1)
    dataset = ResidentPatches(_patches(images, patch=5, ppe=3000), batch_size=1000, device="cpu")
    origins = [
        _origin(p.permute(1, 2, 0).numpy(), images, 5)[0]
        for i in range(3)
        for p in dataset[i].target
    ]
    n = len(origins)

    def within(count, p):
        assert abs(count - n * p) < 5 * (n * p * (1 - p)) ** 0.5, (count, n * p)

    within(sum(k == 1 for k, *_ in origins), 72 / 108)  # areas 36 and 72
    for d in range(8):
        within(sum(o[3] == d for o in origins), 1 / 8)
    for left in range(8):  # image 1: 12 - 5 + 1 = 8 positions across
        within(sum(k == 1 and x == left for k, _, x, _ in origins), 72 / 108 / 8)


def test_an_epoch_holds_patches_per_epoch_patches_and_no_augment_means_no_transform():
    images = _images(1)
    dataset = ResidentPatches(_patches(images, ppe=40, augment=False), batch_size=16, device="cpu")
    assert [len(dataset[i].target) for i in range(len(dataset))] == [16, 16, 8]
    with pytest.raises(IndexError):
        dataset[3]
    for patch in dataset[0].target:
        (origin,) = _origin(patch.permute(1, 2, 0).numpy(), images, 4)
        assert origin[3] == 0


def test_pairs_are_refused_with_the_key_to_change():
    img = _images(1)[0]
    patches = PatchDataset([Example("a", img, img)], ImageStore(1, "memory"), 4, 8)
    with pytest.raises(ConfigError, match=r"data\.resident=false"):
        ResidentPatches(patches, 4, "cpu")


def test_the_datamodule_draws_resident_batches_of_its_rescaled_images(tmp_path):
    write_images(tmp_path, 3, size=(20, 24), mode="L")
    layout = partial(folder, root=str(tmp_path), split=[1.0, 0.0, 0.0])
    dm = RestorationDataModule(
        layout,
        channels=1,
        patch_size=8,
        batch_size=5,
        patches_per_epoch=12,
        scales=[1.0, 0.5],
        resident=True,
        num_workers=2,
    )
    loader = dm.train_dataloader()
    batches = list(loader)
    assert [len(b) for b in batches] == [5, 5, 2] and len(loader) == 3
    assert batches[0].target.dtype == torch.uint8 and batches[0].target.shape[1:] == (1, 8, 8)
    assert loader.num_workers == 0  # drawn in the training process, on its device
    assert len(loader.dataset.offsets) == 6  # the 3 images and their half-size copies


def test_the_seed_fixes_the_draws_and_each_rank_gets_its_own(tmp_path):
    patches = _patches(_images(1), ppe=32)
    a, b, c = (ResidentPatches(patches, 16, "cpu", seed=s)[0].target for s in (5, 5, 6))
    assert torch.equal(a, b) and not torch.equal(a, c)

    write_images(tmp_path, 2, size=(20, 24), mode="L")
    layout = partial(folder, root=str(tmp_path), split=[1.0, 0.0, 0.0])
    seeds = []
    for rank in (0, 1):
        dm = RestorationDataModule(layout, channels=1, patch_size=8, resident=True)
        strategy = type("Strategy", (), {"root_device": torch.device("cpu")})()
        dm.trainer = type("Trainer", (), {"global_rank": rank, "strategy": strategy})()
        torch.manual_seed(0)  # as seed_everything does on every rank
        seeds.append(dm._resident_seed())
    assert seeds[0] != seeds[1]


def test_reshape_draws_crops_of_the_new_size_and_keeps_the_epochs_batches():
    images = _images(1)
    dataset = ResidentPatches(_patches(images, ppe=40), batch_size=16, device="cpu")
    dataset.reshape(6, 5)
    assert len(dataset) == 3  # as before: validation keeps its cadence in steps
    for i in range(3):
        batch = dataset[i].target
        assert batch.shape == (5, 1, 6, 6)  # every batch full, the last one too
        for patch in batch:
            assert _origin(patch.permute(1, 2, 0).numpy(), images, 6)
    with pytest.raises(DataError, match=r"patch_size=8 is larger than 1 training image.*7 px"):
        dataset.reshape(8, 5)  # the 7x8 image is 7 px high
    with pytest.raises(ConfigError, match="patch_size=0"):
        dataset.reshape(0, 5)
