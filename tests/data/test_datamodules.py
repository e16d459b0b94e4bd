"""Datamodules: split by image, decoded once, patches, named test sets, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from restore.data import EmbeddedDataModule, FolderDataModule, PatchDataset, read_image
from restore.data.datasets import Image, ImageDataset
from restore.utils.errors import DataError


def write_images(folder, n, size=(40, 48), mode="RGB", seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rs = np.random.RandomState(seed)
    for i in range(n):
        shape = (*size, 3) if mode == "RGB" else size
        PILImage.fromarray(rs.randint(0, 256, shape, dtype=np.uint8), mode).save(
            folder / f"im{i}.png"
        )


def test_embedded_splits_are_disjoint_by_image():
    dm = EmbeddedDataModule(channels=1)
    dm.setup()
    train = {im.name for im in dm.train_images}
    val = {im.name for im in dm.val_images}
    test = {im.name for im in dm.test_images["embedded"]}
    assert train and val and test
    assert not (train & val or train & test or val & test)
    assert all(im.pixels.dtype == np.uint8 and im.pixels.shape[2] == 1 for im in dm.train_images)


def test_embedded_color_and_batches():
    dm = EmbeddedDataModule(channels=3, batch_size=4, patch_size=32, patches_per_epoch=8)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch.target.shape == (4, 3, 32, 32) and batch.target.dtype == torch.uint8
    val = next(iter(dm.val_dataloader()))
    assert {"target", "seed", "index", "name"} <= val.present()


def test_patch_dataset_crops_from_memory_with_d4_augmentation():
    img = np.arange(64 * 64, dtype=np.uint32).reshape(64, 64, 1) % 251
    ds = PatchDataset([Image("a", img.astype(np.uint8))], patch_size=16, patches_per_epoch=200)
    torch.manual_seed(0)
    patches = [ds[i]["target"] for i in range(200)]
    assert all(p.shape == (1, 16, 16) for p in patches)
    assert len({p.numpy().tobytes() for p in patches}) > 150, "random positions and transforms"


def test_read_only_images_give_writable_tensors_without_a_warning(recwarn):
    pixels = np.zeros((8, 8, 1), np.uint8)
    pixels.flags.writeable = False  # as np.asarray(PIL image) and memory-mapped caches are
    sample = ImageDataset([Image("a", pixels)])[0]["target"]
    sample.add_(1)
    assert sample.shape == (1, 8, 8) and int(sample.sum()) == 64
    assert not [w for w in recwarn if "not writable" in str(w.message)]


def test_patch_larger_than_images_is_a_clear_error():
    with pytest.raises(ValueError, match=r"data\.patch_size=64"):
        PatchDataset([Image("a", np.zeros((32, 32, 1), np.uint8))], 64, 10)


def test_folder_layout_train_val_test(tmp_path):
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        write_images(tmp_path / split, n)
    dm = FolderDataModule(root=str(tmp_path), channels=3, patch_size=16)
    dm.setup()
    assert (len(dm.train_images), len(dm.val_images), len(dm.test_images["test"])) == (3, 1, 2)
    assert dm.test_set_names == ["test"]


def test_folder_split_by_ratio_is_by_image(tmp_path):
    write_images(tmp_path, 10, mode="L")
    dm = FolderDataModule(root=str(tmp_path), split=(0.6, 0.2, 0.2), channels=1)
    dm.setup()
    names = [
        im.name for part in (dm.train_images, dm.val_images, dm.test_images["test"]) for im in part
    ]
    assert sorted(names) == sorted(f"im{i}" for i in range(10))
    assert (len(dm.train_images), len(dm.val_images)) == (6, 2)


def test_benchmark_test_sets_keep_their_names(tmp_path):
    write_images(tmp_path / "SetA", 2, mode="L")
    write_images(tmp_path / "SetB", 3, mode="L")
    dm = FolderDataModule(
        root=None, channels=1, test_sets={"A": tmp_path / "SetA", "B": tmp_path / "SetB"}
    )
    assert dm.test_set_names == ["A", "B"]
    loaders = dm.test_dataloader()
    assert [len(dl.dataset) for dl in loaders] == [2, 3]


def test_read_image_converts_channels_and_16_bit(tmp_path):
    rgb = np.random.RandomState(0).randint(0, 256, (5, 6, 3), dtype=np.uint8)
    PILImage.fromarray(rgb).save(tmp_path / "c.png")
    assert read_image(tmp_path / "c.png", 3).shape == (5, 6, 3)
    gray = read_image(tmp_path / "c.png", 1)
    assert gray.shape == (5, 6, 1) and gray.dtype == np.uint8
    deep = (np.arange(30, dtype=np.uint16).reshape(5, 6) * 2000).astype(np.uint16)
    PILImage.fromarray(deep).save(tmp_path / "d.png")
    out = read_image(tmp_path / "d.png", 1)
    assert out.dtype == np.uint8 and out.max() == round(29 * 2000 / 65535 * 255)


def test_missing_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        FolderDataModule(root=None, test_sets={"X": tmp_path / "nope"}).setup()
    (tmp_path / "bad.png").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"bad\.png"):
        read_image(tmp_path / "bad.png")
