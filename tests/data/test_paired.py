"""Pairs: aligned crops and dihedral transforms, folder pairing, the decode-once image store."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import hydra
import numpy as np
import pytest
import torch
from PIL import Image

from restore.data import EvalDataset, Example, ImageStore, PatchDataset, RestorationDataModule
from restore.data import store as store_module
from restore.data.layouts import pair_folders, paired_folder
from restore.utils.errors import ConfigError, DataError
from tests.conftest import compose_config


def _save(path: Path, pixels: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.squeeze()).save(path)
    return pixels


def _random(shape, seed) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _block_mean(x: np.ndarray, s: int) -> np.ndarray:
    h, w, c = x.shape
    return x.reshape(h // s, s, w // s, s, c).mean(axis=(1, 3)).round().astype(np.uint8)


def _d4(x: np.ndarray) -> list[np.ndarray]:
    """The 8 dihedral transforms of an HxWxC array."""
    out = []
    for k in range(4):
        r = np.rot90(x, k)
        out += [r, r[:, ::-1]]
    return out


def _locate(patch: np.ndarray, image: np.ndarray) -> set[tuple[int, int, int]]:
    """(transform, top, left) where some dihedral transform of ``patch`` sits in ``image``."""
    found = set()
    p = patch.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(image, (p, p), axis=(0, 1))
    for t, cand in enumerate(_d4(patch)):
        hits = np.argwhere((windows == cand.transpose(2, 0, 1)[None, None]).all(axis=(2, 3, 4)))
        found |= {(t, int(i), int(j)) for i, j in hits}
    return found


@pytest.fixture
def folder_pairs(tmp_path) -> tuple[Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """root/{train,val,test}/{input,target}: input = 255 - target (so pairing is checkable)."""
    arrays = {}
    sizes = {"train": [(40, 50), (36, 36)], "val": [(32, 32), (32, 32)], "test": [(30, 44)]}
    for split, shapes in sizes.items():
        for i, (h, w) in enumerate(shapes):
            target = _random((h, w, 3), seed=hash((split, i)) % 1000)
            name = f"{split}{i}"
            _save(tmp_path / split / "target" / f"{name}.png", target)
            _save(tmp_path / split / "input" / f"{name}.png", 255 - target)
            arrays[name] = (255 - target, target)
    return tmp_path, arrays


def test_pair_folders_names_the_missing_partners(tmp_path):
    for name in ("a", "b", "c"):
        _save(tmp_path / "target" / f"{name}.png", _random((8, 8, 3), 0))
    for name in ("a", "x1", "x2"):
        _save(tmp_path / "input" / f"{name}.png", _random((8, 8, 3), 0))
    with pytest.raises(DataError) as err:
        pair_folders(tmp_path / "input", tmp_path / "target")
    msg = str(err.value)
    assert "x1, x2" in msg and "b, c" in msg and str(tmp_path / "input") in msg
    # extensions may differ: pairs by stem
    _save(tmp_path / "in2" / "a.jpg", _random((8, 8, 3), 1))
    _save(tmp_path / "tg2" / "a.png", _random((8, 8, 3), 1))
    [pair] = pair_folders(tmp_path / "in2", tmp_path / "tg2")
    assert pair.name == "a" and pair.input.suffix == ".jpg" and pair.target.suffix == ".png"


def test_patches_share_crop_and_dihedral_transform(folder_pairs):
    root, arrays = folder_pairs
    store = ImageStore(3, "memory")
    pairs = pair_folders(root / "train" / "input", root / "train" / "target")
    ds = PatchDataset(pairs, store, patch_size=12, patches_per_epoch=40)
    torch.manual_seed(0)
    transforms, images = set(), set()
    for i in range(len(ds)):
        item = ds[i]
        inp, tgt = item["input"], item["target"]
        assert inp.dtype == torch.uint8 and inp.shape == tgt.shape == (3, 12, 12)
        assert torch.equal(inp, 255 - tgt)  # same crop and same transform on both
        patch = tgt.permute(1, 2, 0).numpy()
        hits = {(name, t) for name, (_, full) in arrays.items() for t, _, _ in _locate(patch, full)}
        assert hits, "the target patch is no crop of a training image"
        images |= {n for n, _ in hits}
        transforms |= {t for _, t in hits}
    assert images == {"train0", "train1"}
    assert len(transforms) >= 5  # the dihedral augmentation is applied (8 possible)


def test_scaled_patches_stay_aligned(tmp_path):
    hr = _random((48, 64, 3), 3)
    _save(tmp_path / "hr.png", hr)
    _save(tmp_path / "lr.png", _block_mean(hr, 2))
    store = ImageStore(3, "none")
    ds = PatchDataset(
        [Example("x", tmp_path / "hr.png", tmp_path / "lr.png")], store, 16, 30, scale=2
    )
    torch.manual_seed(1)
    positions = set()
    for i in range(len(ds)):
        item = ds[i]
        assert item["target"].shape == (3, 16, 16) and item["input"].shape == (3, 8, 8)
        tgt = item["target"].permute(1, 2, 0).numpy()
        assert np.array_equal(item["input"].permute(1, 2, 0).numpy(), _block_mean(tgt, 2))
        found = _locate(tgt, hr)
        assert found and all(top % 2 == 0 and left % 2 == 0 for _, top, left in found)
        positions |= {(top, left) for _, top, left in found}
    assert len(positions) > 10
    with pytest.raises(ConfigError, match="multiple of the scale"):
        PatchDataset([Example("x", tmp_path / "hr.png")], store, 15, 4, scale=2)


def test_whole_pairs_center_crop_and_modcrop(tmp_path):
    hr = _random((41, 63, 3), 4)  # not a multiple of 2: modcropped to 40x62
    lr = _block_mean(hr[:40, :62], 2)
    _save(tmp_path / "hr.png", hr)
    _save(tmp_path / "lr.png", lr)
    store = ImageStore(3, "memory")
    pair = Example("x", tmp_path / "hr.png", tmp_path / "lr.png")
    item = EvalDataset([pair], store, seed=7, scale=2)[0]
    assert item["target"].shape == (3, 40, 62) and item["input"].shape == (3, 20, 31)
    assert item["seed"] == 7 and item["index"] == 0 and item["name"] == "x"
    crop = EvalDataset([pair], store, crop=16, scale=2)[0]
    tgt, inp = crop["target"].permute(1, 2, 0).numpy(), crop["input"].permute(1, 2, 0).numpy()
    top, left = (20 - 8) // 2, (31 - 8) // 2
    assert np.array_equal(inp, lr[top : top + 8, left : left + 8])
    assert np.array_equal(tgt, hr[2 * top : 2 * top + 16, 2 * left : 2 * left + 16])
    clean = EvalDataset([Example("y", tmp_path / "hr.png")], store, scale=2)[0]
    assert set(clean) == {"target", "seed", "index", "name", "gray"}
    assert clean["target"].shape == (3, 40, 62)


def test_folder_datamodule_splits_loaders_and_test_sets(folder_pairs, tmp_path):
    root, arrays = folder_pairs
    extra = tmp_path / "extra"
    _save(extra / "clean1.png", _random((20, 24, 3), 9))
    dm = RestorationDataModule(
        partial(paired_folder, str(root)),
        channels=3,
        patch_size=16,
        batch_size=4,
        patches_per_epoch=8,
        val_crop=24,
        test_sets={"Extra": str(extra)},
    )
    dm.setup("fit")
    assert dm.test_set_names == ["test", "Extra"]
    batch = next(iter(dm.train_dataloader()))
    assert batch.input.shape == batch.target.shape == (4, 3, 16, 16)
    assert torch.equal(batch.input, 255 - batch.target)
    val = next(iter(dm.val_dataloader()))
    assert val.target.shape == (2, 3, 24, 24) and list(val.name) == ["val0", "val1"]
    assert val.seed.tolist() == [0, 0]
    test, extra_loader = dm.test_dataloader()
    item = next(iter(test))
    inp, tgt = arrays["test0"]
    assert np.array_equal(item.target[0].permute(1, 2, 0).numpy(), tgt)
    assert np.array_equal(item.input[0].permute(1, 2, 0).numpy(), inp)
    clean = next(iter(extra_loader))
    assert clean.input is None and clean.target.shape == (1, 3, 20, 24)


def test_folder_datamodule_split_by_ratio_and_errors(tmp_path):
    for i in range(10):
        t = _random((20, 20, 3), i)
        _save(tmp_path / "target" / f"{i:02d}.png", t)
        _save(tmp_path / "input" / f"{i:02d}.png", t)
    layout = partial(paired_folder, str(tmp_path), split=[0.6, 0.2, 0.2])
    dm = RestorationDataModule(layout, channels=1)
    dm.setup()
    parts = dm.train_examples, dm.val_examples, dm.test_examples["test"]
    names = [[p.name for p in part] for part in parts]
    assert [len(n) for n in names] == [6, 2, 2]
    assert sorted(n for split in names for n in split) == [f"{i:02d}" for i in range(10)]
    assert dm.store(dm.train_examples[0].target).shape == (20, 20, 1)  # gray
    with pytest.raises(DataError, match="no train/ folder"):
        RestorationDataModule(partial(paired_folder, str(tmp_path))).setup()
    # an input of another size than its target
    _save(tmp_path / "input" / "00.png", _random((10, 20, 3), 0))
    with pytest.raises(DataError, match=r"00\.png") as err:
        RestorationDataModule(layout).setup()
    assert "20x20" in str(err.value) and "20x10" in str(err.value)


def test_disk_cache_written_once_validated_and_atomic(tmp_path, monkeypatch):
    image = _save(tmp_path / "data" / "a.png", _random((30, 40, 3), 5))
    cache = tmp_path / "cache"
    store = ImageStore(3, True, cache, root=tmp_path / "data")
    assert store.build([tmp_path / "data" / "a.png"]) == 1
    cached = cache / "a.png.c3.npy"
    assert cached.is_file() and [p.name for p in cache.iterdir()] == ["a.png.c3.npy"]
    pixels = store(tmp_path / "data" / "a.png")
    assert isinstance(pixels, np.memmap) and np.array_equal(pixels, image)

    # reuse: nothing is decoded again, not by a new store either
    calls = []
    real_read = store_module.read_uint8
    monkeypatch.setattr(store_module, "read_uint8", lambda *a: calls.append(a) or real_read(*a))
    fresh = ImageStore(3, True, cache, root=tmp_path / "data")
    assert fresh.build([tmp_path / "data" / "a.png"]) == 0
    assert np.array_equal(fresh(tmp_path / "data" / "a.png"), image) and not calls

    # a cache file of the wrong shape (e.g. from another version of the image) is rewritten
    np.save(cached, np.zeros((5, 5, 3), np.uint8))
    os.utime(cached, (cached.stat().st_atime + 10, cached.stat().st_mtime + 10))
    assert ImageStore(3, True, cache, root=tmp_path / "data").build([tmp_path / "data/a.png"]) == 1
    assert np.array_equal(np.load(cached), image) and len(calls) == 1
    # a truncated file is rewritten when accessed
    cached.write_bytes(cached.read_bytes()[:100])
    assert np.array_equal(
        ImageStore(3, True, cache, root=tmp_path / "data")(tmp_path / "data" / "a.png"), image
    )
    assert not [p for p in cache.rglob("*") if p.name.endswith(".tmp")]

    # gray and color copies are distinct cache files; images outside root go to _external
    other = _save(tmp_path / "elsewhere" / "b.png", _random((8, 8, 3), 6))
    gray = ImageStore(1, True, cache, root=tmp_path / "data")
    assert gray(tmp_path / "data" / "a.png").shape == (30, 40, 1)
    assert np.array_equal(
        gray(tmp_path / "elsewhere" / "b.png"), real_read(tmp_path / "elsewhere" / "b.png", 1)
    )
    assert (cache / "a.png.c1.npy").is_file() and len(list((cache / "_external").iterdir())) == 1
    assert other.shape == (8, 8, 3)


def test_disk_cache_in_an_unwritable_place_says_what_to_do(tmp_path):
    _save(tmp_path / "a.png", _random((8, 8, 3), 0))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = ImageStore(3, True, blocker / "cache", root=tmp_path)
    with pytest.raises(DataError, match=r"data\.cache_dir"):
        store(tmp_path / "a.png")
    with pytest.raises(ConfigError):
        ImageStore(3, "sometimes")


def test_train400_config_gives_dncnn_training_data(shared_datasets, tmp_path):
    """conf/data/train400.yaml: Train400 as gray 40x40 training patches, Set12/BSD68 as tests."""
    import hydra

    from tests.conftest import compose_config

    cfg = compose_config("train", ["data=train400", "data.batch_size=8"], tmp_path)
    assert Path(cfg.data.layout.root).resolve() == (shared_datasets / "Train400").resolve()
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    assert (len(dm.train_examples), len(dm.val_examples)) == (392, 8)
    assert dm.test_set_names == ["Set12", "BSD68"]
    assert [len(v) for v in dm.test_examples.values()] == [12, 68]
    batch = next(iter(dm.train_dataloader()))
    assert batch.target.shape == (8, 1, 40, 40) and batch.target.dtype == torch.uint8
    assert len(dm.train_dataloader().dataset.examples) == 4 * 392  # scales 1, 0.9, 0.8, 0.7


def test_flat_pairs_is_one_function_and_one_yaml(tmp_path):
    """The layout added as the example of a new dataset: its YAML composes, its pairs load."""
    root = tmp_path / "pairs"
    made = {}
    for split, names in (("train", ["a", "b", "c"]), ("val", ["d"]), ("test", ["e", "f"])):
        for i, name in enumerate(names):
            target = _save(root / split / f"{name}_target.png", _random((40, 48, 3), i))
            _save(root / split / f"{name}_input.jpg", _random((40, 48, 3), 10 + i))  # any suffix
            made[name] = (np.asarray(Image.open(root / split / f"{name}_input.jpg")), target)
    overrides = ["data=flat_pairs", f"data.layout.root={root}", "data.patch_size=32"]
    cfg = compose_config("train", [*overrides, "data.batch_size=4"], tmp_path)
    dm = hydra.utils.instantiate(cfg.data, num_workers=0)
    dm.setup()
    assert [ex.name for ex in dm.train_examples] == ["a", "b", "c"]
    assert dm.test_set_names == ["test"]
    for item in dm.test_dataset("test"):
        inp, target = made[item["name"]]
        np.testing.assert_array_equal(item["input"].permute(1, 2, 0).numpy(), inp)
        np.testing.assert_array_equal(item["target"].permute(1, 2, 0).numpy(), target)
    batch = next(iter(dm.train_dataloader()))
    assert batch.input.shape == batch.target.shape == (4, 3, 32, 32)
    (root / "train" / "c_input.jpg").unlink()
    with pytest.raises(DataError, match=r"1 image\(s\) of .*\*_target have no partner"):
        hydra.utils.instantiate(cfg.data, num_workers=0).setup()
