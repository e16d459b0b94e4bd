"""The datamodule over layouts: split by image, decoded once, patches, named test sets, errors."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from restore.data import (
    EvalDataset,
    Example,
    ImageStore,
    PatchDataset,
    RestorationDataModule,
)
from restore.data.layouts import embedded, folder
from restore.imaging import read_uint8
from restore.utils.errors import DataError

MEMORY = ImageStore(1, "memory")


def write_images(folder, n, size=(40, 48), mode="RGB", seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rs = np.random.RandomState(seed)
    for i in range(n):
        shape = (*size, 3) if mode == "RGB" else size
        PILImage.fromarray(rs.randint(0, 256, shape, dtype=np.uint8), mode).save(
            folder / f"im{i}.png"
        )


def test_embedded_splits_are_disjoint_by_image():
    dm = RestorationDataModule(embedded, channels=1)
    dm.setup()
    train = {ex.name for ex in dm.train_examples}
    val = {ex.name for ex in dm.val_examples}
    test = {ex.name for ex in dm.test_examples["embedded"]}
    assert train and val and test
    assert not (train & val or train & test or val & test)
    pixels = [dm.store(ex.target) for ex in dm.train_examples]
    assert all(p.dtype == np.uint8 and p.shape[2] == 1 for p in pixels)


def test_embedded_color_and_batches():
    dm = RestorationDataModule(
        embedded, channels=3, batch_size=4, patch_size=32, patches_per_epoch=8
    )
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch.target.shape == (4, 3, 32, 32) and batch.target.dtype == torch.uint8
    val = next(iter(dm.val_dataloader()))
    assert {"target", "seed", "index", "name", "gray"} <= val.present()
    test = next(iter(dm.test_dataloader()[0]))  # camera is a gray photo, chelsea is not
    assert test.name == ["camera"] and test.gray.tolist() == [True]


def test_patch_dataset_crops_from_memory_with_d4_augmentation():
    img = np.arange(64 * 64, dtype=np.uint32).reshape(64, 64, 1) % 251
    ds = PatchDataset([Example("a", img.astype(np.uint8))], MEMORY, 16, patches_per_epoch=200)
    torch.manual_seed(0)
    patches = [ds[i]["target"] for i in range(200)]
    assert all(p.shape == (1, 16, 16) for p in patches)
    assert len({p.numpy().tobytes() for p in patches}) > 150, "random positions and transforms"


def test_read_only_images_give_writable_tensors_without_a_warning(recwarn):
    pixels = np.zeros((8, 8, 1), np.uint8)
    pixels.flags.writeable = False  # as np.asarray(PIL image) and memory-mapped caches are
    sample = EvalDataset([Example("a", pixels)], MEMORY)[0]["target"]
    sample.add_(1)
    assert sample.shape == (1, 8, 8) and int(sample.sum()) == 64
    assert not [w for w in recwarn if "not writable" in str(w.message)]


def test_patch_larger_than_images_is_a_clear_error_naming_the_image():
    with pytest.raises(DataError, match=r"data\.patch_size=64 .*smallest: 'tiny', 32 px"):
        PatchDataset([Example("tiny", np.zeros((32, 32, 1), np.uint8))], MEMORY, 64, 10)


def test_rescaled_copies_join_the_pool_and_need_clean_images():
    ds = PatchDataset(
        [Example("a", np.zeros((40, 40, 1), np.uint8))], MEMORY, 16, 4, rescales=(1.0, 0.5)
    )
    assert [MEMORY.size(ex.target) for ex in ds.examples] == [(40, 40), (20, 20)]
    pair = Example("p", np.zeros((40, 40, 1), np.uint8), np.zeros((40, 40, 1), np.uint8))
    with pytest.raises(ValueError, match="rescaled copies"):
        PatchDataset([pair], MEMORY, 16, 4, rescales=(1.0, 0.5))


def test_folder_layout_train_val_test(tmp_path):
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        write_images(tmp_path / split, n)
    dm = RestorationDataModule(partial(folder, str(tmp_path)), channels=3, patch_size=16)
    dm.setup()
    sizes = len(dm.train_examples), len(dm.val_examples), len(dm.test_examples["test"])
    assert sizes == (3, 1, 2)
    assert dm.test_set_names == ["test"]


def test_folder_split_by_ratio_is_by_image(tmp_path):
    write_images(tmp_path, 10, mode="L")
    layout = partial(folder, str(tmp_path), split=(0.6, 0.2, 0.2))
    dm = RestorationDataModule(layout, channels=1)
    dm.setup()
    parts = (dm.train_examples, dm.val_examples, dm.test_examples["test"])
    names = [ex.name for part in parts for ex in part]
    assert sorted(names) == sorted(f"im{i}" for i in range(10))
    assert (len(dm.train_examples), len(dm.val_examples)) == (6, 2)


def test_benchmark_test_sets_keep_their_names(tmp_path):
    write_images(tmp_path / "SetA", 2, mode="L")
    write_images(tmp_path / "SetB", 3, mode="L")
    dm = RestorationDataModule(
        None, channels=1, test_sets={"A": tmp_path / "SetA", "B": tmp_path / "SetB"}
    )
    assert dm.test_set_names == ["A", "B"]
    loaders = dm.test_dataloader()
    assert [len(dl.dataset) for dl in loaders] == [2, 3]


def test_mixed_size_test_sets_batch_images_of_one_size(tmp_path):
    # BSD68 holds 481x321 and 321x481 images: with eval_batch_size they batch by size, every
    # image exactly once and unchanged
    write_images(tmp_path / "Mixed", 3, size=(24, 32), mode="L", seed=0)
    for i in range(2):
        PILImage.fromarray(np.full((32, 24), 10 * i, np.uint8), "L").save(
            tmp_path / "Mixed" / f"tall{i}.png"
        )
    make = partial(RestorationDataModule, None, channels=1, test_sets={"M": tmp_path / "Mixed"})
    batched = [b for b in make(eval_batch_size=2).test_dataloader()[0]]
    single = [b for b in make().test_dataloader()[0]]
    assert sorted(tuple(b.target.shape) for b in batched) == [
        (1, 1, 24, 32),
        (2, 1, 24, 32),
        (2, 1, 32, 24),
    ]
    assert len(single) == 5 and all(b.target.shape[0] == 1 for b in single)
    by_name = {n: t for b in single for n, t in zip(b.names(), b.target, strict=True)}
    for b in batched:
        for name, target in zip(b.names(), b.target, strict=True):
            assert torch.equal(target, by_name[name])


def test_read_image_converts_channels_and_16_bit(tmp_path):
    rgb = np.random.RandomState(0).randint(0, 256, (5, 6, 3), dtype=np.uint8)
    PILImage.fromarray(rgb).save(tmp_path / "c.png")
    assert read_uint8(tmp_path / "c.png", 3).shape == (5, 6, 3)
    gray = read_uint8(tmp_path / "c.png", 1)
    assert gray.shape == (5, 6, 1) and gray.dtype == np.uint8
    deep = (np.arange(30, dtype=np.uint16).reshape(5, 6) * 2000).astype(np.uint16)
    PILImage.fromarray(deep).save(tmp_path / "d.png")
    out = read_uint8(tmp_path / "d.png", 1)
    assert out.dtype == np.uint8 and out.max() == round(29 * 2000 / 65535 * 255)


def test_missing_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        RestorationDataModule(None, test_sets={"X": tmp_path / "nope"}).setup()
    (tmp_path / "bad.png").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"bad\.png"):
        read_uint8(tmp_path / "bad.png")


def test_a_test_folder_pairs_images_with_their_own_masks(tmp_path):
    # Deep Image Prior's layout: kate.png beside kate_mask.png (white = known); the mask is no
    # test image of its own, and the task hides exactly its holes
    folder = tmp_path / "inpainting"
    write_images(folder, 2, size=(24, 32))  # im0.png, im1.png
    mask = np.full((24, 32), 255, np.uint8)
    mask[5:15, 8:20] = 0
    PILImage.fromarray(mask, "L").save(folder / "im0_mask.png")
    dm = RestorationDataModule(None, channels=3, test_sets={"DIP": folder}, test_crop=16)
    items = list(dm.test_dataloader()[0])
    assert [b.names()[0] for b in items] == ["im0", "im1"]
    assert items[1].mask is None
    got = items[0].mask
    assert got.shape == (1, 1, 16, 16)  # cropped with its image
    assert torch.equal(got[0, 0], torch.from_numpy(mask[4:20, 8:24] > 127).float())

    from torch import nn

    from restore.tasks import InpaintTask

    task = InpaintTask(nn.Conv2d(4, 3, 1), nn.L1Loss(), degradation=None)
    seen = task.observe(items[0])
    assert torch.equal(seen.mask, got) and torch.equal(seen.input, seen.target * got)


def test_a_mask_of_another_size_is_named(tmp_path):
    folder = tmp_path / "inpainting"
    write_images(folder, 1, size=(24, 32))
    PILImage.fromarray(np.zeros((10, 10), np.uint8), "L").save(folder / "im0_mask.png")
    dm = RestorationDataModule(None, channels=3, test_sets={"DIP": folder})
    with pytest.raises(DataError, match=r"im0_mask\.png is 10x10 but its image is 32x24"):
        next(iter(dm.test_dataloader()[0]))
