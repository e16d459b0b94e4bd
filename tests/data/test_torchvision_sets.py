"""STL-10 and CIFAR-100 from tiny files written in the real on-disk formats."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from restore.data import RestorationDataModule, torchvision_sets
from restore.utils.errors import ConfigError, DataError

LAYOUT_KEYS = ("train_split", "val_count", "test_count", "split_seed", "download", "verify_md5")


def _datamodule(layout, root, patch_size, kwargs):
    options = {k: kwargs.pop(k) for k in LAYOUT_KEYS if k in kwargs}
    kwargs = {"channels": 3, "patch_size": patch_size, "eval_batch_size": 256, **kwargs}
    return RestorationDataModule(lambda: layout(root, **options), **kwargs)


def STL10DataModule(root, **kwargs):  # conf/data/stl10.yaml's options
    return _datamodule(torchvision_sets.stl10, root, 64, kwargs)


def CIFAR100DataModule(root, **kwargs):  # conf/data/cifar100.yaml's options
    return _datamodule(torchvision_sets.cifar100, root, 32, kwargs)


def write_stl10(root: Path, counts=None, seed=0) -> dict[str, np.ndarray]:
    """``stl10_binary/*_X.bin``: uint8 images, each 3x96x96 stored channel by channel in
    column-major order (as the MATLAB-made files are), labels 1..10 in ``*_y.bin``."""
    counts = counts or {"train": 6, "test": 4, "unlabeled": 3}
    rng = np.random.default_rng(seed)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    images = {}
    for split, n in counts.items():
        hwc = rng.integers(0, 256, (n, 96, 96, 3), dtype=np.uint8)
        images[split] = hwc
        hwc.transpose(0, 3, 2, 1).tofile(folder / f"{split}_X.bin")  # N, C, W, H in C order
        if split != "unlabeled":
            rng.integers(1, 11, n, dtype=np.uint8).tofile(folder / f"{split}_y.bin")
    (folder / "class_names.txt").write_text("\n".join(f"class{i}" for i in range(10)))
    return images


def write_cifar100(root: Path, n_train=8, n_test=5, seed=0) -> dict[str, np.ndarray]:
    """``cifar-100-python/{train,test,meta}`` pickles: rows of 3072 bytes (R, G, B planes)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    images = {}
    for split, n in (("train", n_train), ("test", n_test)):
        hwc = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        images[split] = hwc
        entry = {
            "filenames": [f"img_{i}.png" for i in range(n)],
            "batch_label": f"{split} batch",
            "fine_labels": rng.integers(0, 100, n).tolist(),
            "coarse_labels": rng.integers(0, 20, n).tolist(),
            "data": hwc.transpose(0, 3, 1, 2).reshape(n, 3072),
        }
        with open(folder / split, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    meta = {
        "fine_label_names": [f"fine{i}" for i in range(100)],
        "coarse_label_names": [f"coarse{i}" for i in range(20)],
    }
    with open(folder / "meta", "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return images


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


def test_stl10_reads_the_binary_format(tmp_path):
    images = write_stl10(tmp_path)
    dm = STL10DataModule(
        str(tmp_path), val_count=2, patch_size=32, batch_size=5, patches_per_epoch=10,
        verify_md5=False, eval_batch_size=3,
    )  # fmt: skip
    dm.setup()
    assert dm.test_set_names == ["STL10"]
    assert (len(dm.train_examples), len(dm.val_examples)) == (4, 2)
    assert len(dm.test_examples["STL10"]) == 4
    by_name = {ex.name: dm.store(ex.target) for ex in dm.train_examples + dm.val_examples}
    assert sorted(by_name) == [f"train_{i:05d}" for i in range(6)]
    for i in range(6):  # exact pixels, in HWC orientation (a transposition would show here)
        assert np.array_equal(by_name[f"train_{i:05d}"], images["train"][i])
    batch = next(iter(dm.train_dataloader()))
    assert batch.present() == {"target"} and batch.target.shape == (5, 3, 32, 32)
    assert batch.target.dtype == torch.uint8
    test = list(dm.test_dataloader()[0])
    assert [len(b.name) for b in test] == [3, 1]  # same-size images: batched
    assert np.array_equal(_hwc(test[1].target[0]), images["test"][3])
    assert test[0].seed.tolist() == [0, 0, 0]
    val = next(iter(dm.val_dataloader()))
    assert val.target.shape == (2, 3, 96, 96)

    unl = STL10DataModule(
        str(tmp_path), train_split="train+unlabeled", val_count=1, test_count=2, channels=1,
        verify_md5=False,
    )  # fmt: skip
    unl.setup()
    assert len(unl.train_examples) + len(unl.val_examples) == 9
    assert len(unl.test_examples["STL10"]) == 2
    assert unl.store(unl.train_examples[0].target).shape == (96, 96, 1)
    with pytest.raises(ConfigError):
        STL10DataModule(str(tmp_path), train_split="all").setup()


def test_cifar100_reads_the_pickles(tmp_path):
    images = write_cifar100(tmp_path)
    dm = CIFAR100DataModule(str(tmp_path), val_count=3, verify_md5=False, patches_per_epoch=4)
    dm.setup()
    assert dm.test_set_names == ["CIFAR100"]
    assert len(dm.train_examples) == 5 and len(dm.val_examples) == 3
    for ex in dm.train_examples + dm.val_examples:
        assert np.array_equal(dm.store(ex.target), images["train"][int(ex.name.split("_")[1])])
    assert np.array_equal(dm.store(dm.test_examples["CIFAR100"][4].target), images["test"][4])
    batch = next(iter(dm.train_dataloader()))
    assert batch.target.shape == (4, 3, 32, 32)
    # the held-out images depend on split_seed only
    again = CIFAR100DataModule(str(tmp_path), val_count=3, verify_md5=False)
    again.setup()
    assert [ex.name for ex in again.val_examples] == [ex.name for ex in dm.val_examples]
    with pytest.raises(ConfigError, match="val_count"):
        CIFAR100DataModule(str(tmp_path), val_count=8, verify_md5=False).setup()


def test_missing_files_say_where_and_how(tmp_path):
    with pytest.raises(DataError) as err:
        STL10DataModule(str(tmp_path / "stl")).setup()
    msg = str(err.value)
    assert str(tmp_path / "stl" / "stl10_binary" / "train_X.bin") in msg
    assert "data.layout.download=true" in msg and "python -m restore.data.download stl10" in msg
    with pytest.raises(DataError, match=r"restore\.data\.download cifar100") as err:
        CIFAR100DataModule(str(tmp_path / "c")).setup()
    assert str(tmp_path / "c" / "cifar-100-python" / "train") in str(err.value)


def test_published_md5_is_checked_by_default(tmp_path):
    write_cifar100(tmp_path / "c")
    with pytest.raises(DataError, match="16019d7e3df5f24257cddd939b257f8d"):
        CIFAR100DataModule(str(tmp_path / "c")).setup()  # the fixture is not the real file
    write_stl10(tmp_path / "s")
    with pytest.raises(DataError, match="md5"):
        STL10DataModule(str(tmp_path / "s")).setup()


def test_download_flag_fetches_before_reading(tmp_path, monkeypatch):
    calls = []

    def fake_fetch(name, root):
        calls.append(name)
        if not (Path(root) / "cifar-100-python").exists():
            write_cifar100(Path(root))
        return []

    monkeypatch.setattr(torchvision_sets, "fetch", fake_fetch)
    dm = CIFAR100DataModule(str(tmp_path), download=True, verify_md5=False, val_count=1)
    dm.prepare_data()
    dm.setup()
    assert calls[0] == "cifar100" and len(dm.train_examples) == 7
