"""DIV2K on disk: the official layout and split, LR files vs on-device LR, the decode-once cache."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restore.data import RestorationDataModule
from restore.data import store as store_module
from restore.data.div2k import div2k as div2k_layout
from restore.utils.errors import ConfigError, DataError

# the options of conf/data/div2k.yaml that the tests do not set
DIV2K = {"channels": 3, "patch_size": 96, "batch_size": 16, "val_crop": None, "cache": True}


def div2k_datamodule(root, scale=2, lr_source="files", val_range=(801, 810), **kwargs):
    layout = partial(div2k_layout, root, scale, lr_source, val_range)
    return RestorationDataModule(layout, scale=scale, **{**DIV2K, **kwargs})


TRAIN_IDS = (1, 2, 3)
VALID_IDS = (801, 802, 803)


def _block_mean(x: np.ndarray, s: int) -> np.ndarray:
    h, w, c = x.shape
    x = x[: h - h % s, : w - w % s]
    return x.reshape(h // s, s, w // s, s, c).mean(axis=(1, 3)).round().astype(np.uint8)


@pytest.fixture
def div2k(tmp_path) -> tuple[Path, dict[int, np.ndarray]]:
    """A DIV2K-shaped tree: HR 50x66 (not a multiple of 4), LR X2/X4 = block means of HR."""
    root = tmp_path / "DIV2K"
    hrs = {}
    rng = np.random.default_rng(0)
    for split, ids in (("train", TRAIN_IDS), ("valid", VALID_IDS)):
        for i in ids:
            hr = rng.integers(0, 256, (50, 66, 3), dtype=np.uint8)
            hrs[i] = hr
            (root / f"DIV2K_{split}_HR").mkdir(parents=True, exist_ok=True)
            Image.fromarray(hr).save(root / f"DIV2K_{split}_HR" / f"{i:04d}.png")
            for s in (2, 4):
                folder = root / f"DIV2K_{split}_LR_bicubic" / f"X{s}"
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(_block_mean(hr, s)).save(folder / f"{i:04d}x{s}.png")
    return root, hrs


def test_lr_files_give_aligned_patches_and_modcropped_tests(div2k):
    root, hrs = div2k
    dm = div2k_datamodule(str(root), scale=2, patch_size=16, batch_size=6, patches_per_epoch=12)
    dm.setup("fit")
    assert [p.name for p in dm.train_examples] == ["0001", "0002", "0003"]
    assert [p.name for p in dm.val_examples] == ["0801", "0802", "0803"]  # val_range 801-810
    assert dm.test_set_names == ["DIV2K"]
    for batch in dm.train_dataloader():
        assert batch.target.dtype == torch.uint8
        assert batch.target.shape == (6, 3, 16, 16) and batch.input.shape == (6, 3, 8, 8)
        for tgt, inp in zip(batch.target, batch.input, strict=True):
            t = tgt.permute(1, 2, 0).numpy()
            assert np.array_equal(inp.permute(1, 2, 0).numpy(), _block_mean(t, 2))
    [test] = dm.test_dataloader()
    items = list(test)
    assert len(items) == 3 and items[0].name == ["0801"]
    assert items[0].target.shape == (1, 3, 50, 66) and items[0].input.shape == (1, 3, 25, 33)
    assert np.array_equal(items[0].target[0].permute(1, 2, 0).numpy(), hrs[801])

    x4 = div2k_datamodule(str(root), scale=4, patch_size=16, val_range=[802, 802])
    x4.setup()
    item = next(iter(x4.test_dataloader()[0]))
    assert item.target.shape == (1, 3, 48, 64) and item.input.shape == (1, 3, 12, 16)
    assert [p.name for p in x4.val_examples] == ["0802"]


def test_bicubic_source_yields_hr_only(div2k):
    root, hrs = div2k
    dm = div2k_datamodule(
        str(root),
        scale=4,
        lr_source="bicubic",
        patch_size=24,
        batch_size=4,
        patches_per_epoch=4,
        val_crop=40,
    )
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch.present() == {"target"} and batch.target.shape == (4, 3, 24, 24)
    val = next(iter(dm.val_dataloader()))
    assert val.present() == {"target", "seed", "index", "name", "gray"}
    assert val.target.shape == (3, 3, 40, 40)  # center crops, batched
    # the crop is taken from HR modcropped to 48x64 (a multiple of 4), on the 4x grid
    assert np.array_equal(val.target[1].permute(1, 2, 0).numpy(), hrs[802][4:44, 12:52])
    test = next(iter(dm.test_dataloader()[0]))
    assert test.target.shape == (1, 3, 48, 64)  # whole images one by one, modcropped
    assert np.array_equal(test.target[0].permute(1, 2, 0).numpy(), hrs[801][:48, :64])


def test_cache_is_built_once_and_epochs_never_decode_again(div2k, monkeypatch):
    root, _ = div2k
    dm = div2k_datamodule(str(root), scale=2, patch_size=16, batch_size=8, patches_per_epoch=32)
    dm.prepare_data()
    cached = sorted(p.relative_to(root / ".cache" / "restore") for p in root.rglob("*.npy"))
    assert len(cached) == 12  # 6 HR + 6 LR X2
    assert Path("DIV2K_train_HR/0001.png.c3.npy") in cached

    def no_decoding(*args):
        raise AssertionError(f"decoded {args[0]} although it is cached")

    monkeypatch.setattr(store_module, "read_uint8", no_decoding)
    dm.setup("fit")
    for _ in range(2):  # two epochs
        for batch in dm.train_dataloader():
            assert batch.input.shape == (8, 3, 8, 8)
    next(iter(dm.val_dataloader()))
    next(iter(dm.test_dataloader()[0]))


def test_without_cache_every_access_decodes(div2k, monkeypatch):
    root, _ = div2k
    calls = []
    real = store_module.read_uint8
    monkeypatch.setattr(store_module, "read_uint8", lambda *a: calls.append(a[0]) or real(*a))
    dm = div2k_datamodule(
        str(root), scale=2, cache=False, patch_size=16, batch_size=5, patches_per_epoch=5
    )
    dm.setup()
    next(iter(dm.train_dataloader()))
    assert len(calls) == 10  # HR + LR per patch
    assert not (root / ".cache").exists()


def test_layout_errors_name_the_path(div2k, tmp_path):
    root, _ = div2k
    with pytest.raises(DataError, match="does not exist"):
        div2k_datamodule(str(tmp_path / "nowhere")).setup()
    with pytest.raises(DataError, match="lr_source=bicubic") as err:
        div2k_datamodule(str(root), scale=3).setup()
    assert "X3" in str(err.value)
    (root / "DIV2K_valid_LR_bicubic" / "X2" / "0803x2.png").unlink()
    with pytest.raises(DataError, match=r"0803x2\.png"):
        div2k_datamodule(str(root), scale=2).setup()
    (root / "DIV2K_train_HR" / "0000.png").write_bytes(b"")  # 0000 is outside 0001-0800
    with pytest.raises(DataError, match="0001-0800"):
        div2k_datamodule(str(root), lr_source="bicubic").setup()
    (root / "DIV2K_train_HR" / "0000.png").unlink()
    with pytest.raises(ConfigError, match="multiple"):
        div2k_datamodule(str(root), scale=4, patch_size=30, lr_source="bicubic").train_dataloader()
    with pytest.raises(ConfigError, match="lr_source"):
        div2k_datamodule(str(root), lr_source="nearest").setup()


def test_sr_benchmark_folders_as_extra_test_sets(div2k, shared_datasets):
    root, _ = div2k
    dm = div2k_datamodule(str(root), scale=2, test_sets={"Set5": str(shared_datasets / "Set5")})
    assert dm.test_set_names == ["DIV2K", "Set5"]
    loader = dm.test_dataloader()[1]
    items = list(loader)
    assert [b.name[0] for b in items] == ["img_001", "img_002", "img_003", "img_004", "img_005"]
    for b in items:  # SelfExSR pairs: HR is exactly twice the LR file
        assert b.target.shape[-2:] == tuple(2 * n for n in b.input.shape[-2:])
        assert b.gray.tolist() == [False]
    set14_folder = {"Set14": str(shared_datasets / "Set14")}
    set14 = div2k_datamodule(str(root), scale=2, test_sets=set14_folder)
    gray = {b.name[0]: b.gray.item() for b in set14.test_dataloader()[1]}
    # one file of Set14 is single-channel (img_003); img_010 is gray content stored as RGB and,
    # as in the published MATLAB scoring, counts as color
    assert [n for n, g in gray.items() if g] == ["img_003"] and len(gray) == 14
    bicubic = div2k_datamodule(
        str(root), scale=2, lr_source="bicubic", test_sets={"Set5": str(shared_datasets / "Set5")}
    )
    # a benchmark's own LR files are its protocol: used whenever the folder has them
    assert next(iter(bicubic.test_dataloader()[1])).input is not None
    # a folder of clean images is a test set too: the task makes its LR images on the device
    clean = div2k_datamodule(str(root), test_sets={"Set12": str(shared_datasets / "Set12")})
    first = next(iter(clean.test_dataloader()[1]))
    assert first.input is None and first.name == ["01"]
