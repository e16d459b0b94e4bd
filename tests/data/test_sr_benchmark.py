"""SR benchmark folders: both layouts, pairing, modcrop, error messages, evaluation items."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restore.data import RestorationDataModule
from restore.data.sr_benchmark import detect_layout, sr_benchmark
from restore.utils.errors import DataError


def benchmark_items(root, scale, channels=3, require_lr=False) -> list[dict]:
    """The evaluation items of a benchmark folder as the datamodule yields them."""
    sr_benchmark(root, scale, require_lr)  # the layout's own errors
    dm = RestorationDataModule(None, channels=channels, scale=scale, test_sets={"B": root})
    dataset = dm.test_dataloader()[0].dataset
    return [dataset[i] for i in range(len(dataset))]


class Sample:
    """(name, hr, lr) as HxWxC uint8 arrays of one item (lr None without LR files)."""

    def __init__(self, item):
        self.name = item["name"]
        self.hr = item["target"].permute(1, 2, 0).numpy()
        self.lr = item["input"].permute(1, 2, 0).numpy() if "input" in item else None


def read_sr_benchmark(root, scale, require_lr=False, channels=3) -> list[Sample]:
    return [Sample(i) for i in benchmark_items(root, scale, channels, require_lr)]


def _write(path: Path, shape: tuple[int, ...], seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return a


@pytest.fixture
def selfexsr(tmp_path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    d = tmp_path / "selfexsr" / "image_SRF_2"
    arrays = {}
    for i, (shape_hr, shape_lr) in enumerate([((8, 6, 3), (4, 3, 3)), ((6, 10), (3, 5))], 1):
        hr = _write(d / f"img_00{i}_SRF_2_HR.png", shape_hr, seed=i)
        lr = _write(d / f"img_00{i}_SRF_2_LR.png", shape_lr, seed=10 + i)
        arrays[f"img_00{i}"] = (hr, lr)
    _write(tmp_path / "selfexsr" / "image_SRF_4" / "img_001_SRF_4_HR.png", (8, 8, 3), seed=5)
    _write(tmp_path / "selfexsr" / "image_SRF_4" / "img_001_SRF_4_LR.png", (2, 2, 3), seed=6)
    return arrays


@pytest.fixture
def edsr(tmp_path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    root = tmp_path / "edsr"
    arrays = {}
    for i, name in enumerate(["woman", "baby"]):
        hr = _write(root / "HR" / f"{name}.png", (9, 7, 3), seed=i)  # not a multiple of 2
        lr = _write(root / "LR_bicubic" / "X2" / f"{name}x2.png", (4, 3, 3), seed=20 + i)
        arrays[name] = (hr, lr)
    return arrays


def test_selfexsr_layout_pairs(tmp_path, selfexsr):
    root = tmp_path / "selfexsr"
    assert detect_layout(root) == "selfexsr"
    samples = read_sr_benchmark(root, 2)
    assert [s.name for s in samples] == ["img_001", "img_002"]
    for s in samples:
        hr, lr = selfexsr[s.name]
        if hr.ndim == 2:  # gray files come back replicated to the model's 3 channels
            hr, lr = np.repeat(hr[..., None], 3, 2), np.repeat(lr[..., None], 3, 2)
        assert s.hr.dtype == np.uint8 and np.array_equal(s.hr, hr)
        assert np.array_equal(s.lr, lr)
    (four,) = read_sr_benchmark(root, 4)
    assert four.hr.shape == (8, 8, 3) and four.lr.shape == (2, 2, 3)


def test_edsr_layout_pairs_and_modcrop(tmp_path, edsr):
    root = tmp_path / "edsr"
    assert detect_layout(root) == "edsr"
    samples = read_sr_benchmark(root, 2)
    assert [s.name for s in samples] == ["baby", "woman"]  # sorted by file name
    for s in samples:
        hr, lr = edsr[s.name]
        assert s.hr.shape == (8, 6, 3)  # cropped to 2 x LR size
        assert np.array_equal(s.hr, hr[:8, :6]) and np.array_equal(s.lr, lr)


def test_edsr_without_lr_folder(tmp_path, edsr):
    root = tmp_path / "edsr"
    samples = read_sr_benchmark(root, 3)  # no LR_bicubic/X3: HR only, cropped to multiple of 3
    assert all(s.lr is None for s in samples)
    assert samples[0].hr.shape == (9, 6, 3)
    with pytest.raises(DataError, match="X3"):
        read_sr_benchmark(root, 3, require_lr=True)


def test_errors_name_the_folder_and_layouts(tmp_path, selfexsr, edsr):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"SelfExSR.*EDSR/BasicSR") as info:
        read_sr_benchmark(empty, 2)
    assert str(empty) in str(info.value)
    with pytest.raises(DataError, match="does not exist"):
        read_sr_benchmark(tmp_path / "nowhere", 2)
    with pytest.raises(DataError, match=r"image_SRF_3.*\[2, 4\]"):
        read_sr_benchmark(tmp_path / "selfexsr", 3)

    (tmp_path / "selfexsr" / "image_SRF_2" / "img_002_SRF_2_LR.png").unlink()
    with pytest.raises(DataError, match=r"img_002_SRF_2_HR\.png has no matching LR"):
        read_sr_benchmark(tmp_path / "selfexsr", 2)

    (tmp_path / "edsr" / "LR_bicubic" / "X2" / "womanx2.png").unlink()
    with pytest.raises(DataError, match=r"woman.png has no matching LR image womanx2"):
        read_sr_benchmark(tmp_path / "edsr", 2)


def test_size_mismatch_is_an_error(tmp_path):
    root = tmp_path / "bad"
    _write(root / "HR" / "a.png", (10, 10, 3), seed=0)
    _write(root / "LR_bicubic" / "X2" / "ax2.png", (4, 5, 3), seed=1)
    with pytest.raises(DataError, match=r"1/2 of it \(data.scale=2\)"):
        read_sr_benchmark(root, 2)


def test_items_channels_gray_flag_and_batches(tmp_path, selfexsr):
    root = tmp_path / "selfexsr"
    color, gray = benchmark_items(root, 2)
    assert set(color) == {"target", "input", "name", "index", "gray", "seed"}
    assert color["target"].shape == (3, 8, 6) and color["input"].shape == (3, 4, 3)
    assert color["target"].dtype == torch.uint8  # as every dataset: the task makes floats
    assert torch.equal(color["target"], torch.from_numpy(selfexsr["img_001"][0]).permute(2, 0, 1))
    assert color["gray"] is False and color["index"] == 0 and color["name"] == "img_001"
    assert gray["gray"] is True and gray["target"].shape == (3, 6, 10)
    assert torch.equal(gray["target"][0], gray["target"][2])  # replicated

    # a gray model gets the one channel policy of the platform: full-range ITU-R 601 luma
    y, _ = benchmark_items(root, 2, channels=1)
    assert y["target"].shape == (1, 8, 6)
    r, g, b = torch.from_numpy(selfexsr["img_001"][0]).permute(2, 0, 1).double()
    luma = torch.floor((19595 * r + 38470 * g + 7471 * b + 32768) / 65536)
    assert torch.equal(y["target"][0].double(), luma)

    dm = RestorationDataModule(None, channels=3, scale=2, test_sets={"B": root})
    batch = next(iter(dm.test_dataloader()[0]))
    assert batch.target.shape == (1, 3, 8, 6) and batch.gray.tolist() == [False]


def test_items_without_lr_have_no_input(tmp_path, edsr):
    item = benchmark_items(tmp_path / "edsr", 4)[0]
    assert "input" not in item and item["target"].shape == (3, 8, 4)


@pytest.mark.shared
def test_real_set5(shared_datasets):
    samples = read_sr_benchmark(shared_datasets / "Set5", 4)
    assert [s.name for s in samples] == [f"img_00{i}" for i in range(1, 6)]
    for s in samples:
        assert s.hr.shape[0] == 4 * s.lr.shape[0] and s.hr.shape[1] == 4 * s.lr.shape[1]
        assert s.hr.shape[2] == s.lr.shape[2] == 3
    items = benchmark_items(shared_datasets / "Set14", 3)
    assert len(items) == 14
    assert sum(bool(i["gray"]) for i in items) == 1  # img_003 is single-channel
