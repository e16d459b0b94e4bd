"""GoPro and RealBlur in their published layouts, and the real GoPro pairs of ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restore.data import RestorationDataModule
from restore.data.deblur import gopro as gopro_layout
from restore.data.deblur import realblur as realblur_layout
from restore.data.layouts import spread
from restore.utils.errors import ConfigError, DataError

# the options of conf/data/{gopro,realblur}.yaml that the tests do not set
DEBLUR = {"channels": 3, "patch_size": 256, "batch_size": 8, "cache": True}


def GoProDataModule(root, blur="blur", val_count=10, **kwargs):
    layout = lambda: gopro_layout(root, blur, val_count)  # noqa: E731 (errors at setup)
    return RestorationDataModule(layout, **{**DEBLUR, **kwargs})


def RealBlurDataModule(root, variant="J", val_count=10, **kwargs):
    layout = lambda: realblur_layout(root, variant, val_count)  # noqa: E731
    return RestorationDataModule(layout, **{**DEBLUR, **kwargs})


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.double() - b.double()).pow(2).mean().item()
    return 10 * np.log10(255**2 / mse)


@pytest.fixture
def gopro(tmp_path) -> Path:
    """GOPRO_Large/{train,test}/<seq>/{blur,blur_gamma,sharp}: blur = sharp // 2 + 1,
    blur_gamma = sharp // 2 + 2, so a pair's kind and partner are recognisable."""
    root = tmp_path / "GOPRO_Large"
    rng = np.random.default_rng(0)
    layout = {"train": {"GOPR0001_11_00": 3, "GOPR0002_11_01": 2}, "test": {"GOPR0100_11_00": 4}}
    for split, seqs in layout.items():
        for seq, n in seqs.items():
            for i in range(n):
                sharp = rng.integers(0, 256, (36, 48, 3), dtype=np.uint8)
                name = f"{i + 1:06d}.png"
                _save(root / split / seq / "sharp" / name, sharp)
                _save(root / split / seq / "blur" / name, sharp // 2 + 1)
                _save(root / split / seq / "blur_gamma" / name, sharp // 2 + 2)
    return root


def test_gopro_pairs_by_name_per_sequence(gopro):
    dm = GoProDataModule(
        str(gopro.parent), patch_size=16, batch_size=4, patches_per_epoch=8, val_count=2
    )
    dm.setup()
    assert dm.test_set_names == ["GoPro"]
    assert [p.name for p in dm.train_examples][:4] == [
        "GOPR0001_11_00/000001",
        "GOPR0001_11_00/000002",
        "GOPR0001_11_00/000003",
        "GOPR0002_11_01/000001",
    ]
    assert len(dm.train_examples) == 5 and len(dm.test_examples["GoPro"]) == 4
    # validation: test pairs spread over the list (first and last)
    assert [p.name for p in dm.val_examples] == ["GOPR0100_11_00/000001", "GOPR0100_11_00/000004"]
    for batch in dm.train_dataloader():
        assert batch.input.dtype == torch.uint8 and batch.input.shape == (4, 3, 16, 16)
        assert torch.equal(batch.input, batch.target // 2 + 1)
    test = next(iter(dm.test_dataloader()[0]))
    assert test.name == ["GOPR0100_11_00/000001"] and test.target.shape == (1, 3, 36, 48)

    gamma = GoProDataModule(str(gopro), blur="blur_gamma", patch_size=16, patches_per_epoch=4)
    batch = next(iter(gamma.train_dataloader()))
    assert torch.equal(batch.input, batch.target // 2 + 2)
    with pytest.raises(ConfigError, match="blur_gamma"):
        GoProDataModule(str(gopro), blur="gamma").setup()


def test_gopro_layout_errors(gopro, tmp_path):
    with pytest.raises(DataError, match="GOPRO_Large/"):
        GoProDataModule(str(tmp_path / "empty")).setup()
    (gopro / "test" / "GOPR0100_11_00" / "sharp" / "000003.png").unlink()
    with pytest.raises(DataError, match="000003") as err:
        GoProDataModule(str(gopro)).setup()
    assert "no partner" in str(err.value)
    for p in (gopro / "test").rglob("blur_gamma/*"):
        p.unlink()
    (gopro / "test" / "GOPR0100_11_00" / "blur_gamma").rmdir()
    with pytest.raises(DataError, match="no blur_gamma/ folder"):
        GoProDataModule(str(gopro), blur="blur_gamma").setup()


def test_gopro_test_split_alone_is_enough_to_evaluate(gopro):
    import shutil

    shutil.rmtree(gopro / "train")
    dm = GoProDataModule(str(gopro))
    assert len(list(dm.test_dataloader()[0])) == 4
    with pytest.raises(DataError, match="no training images"):
        dm.train_dataloader()


@pytest.fixture
def realblur(tmp_path) -> Path:
    """RealBlur's list files ('gt blur' per line, relative to root) over the published tree."""
    root = tmp_path / "RealBlur"
    rng = np.random.default_rng(1)
    for variant in ("J", "R"):
        folder = f"RealBlur-{variant}_ECC_IMCORR_centroid_itensity_ref"
        for split, scenes in (("train", (1, 2, 3)), ("test", (230, 231))):
            lines = []
            for scene in scenes:
                for k in (1, 2):
                    gt = f"{folder}/scene{scene:03d}/gt/gt_{k}.png"
                    blur = f"{folder}/scene{scene:03d}/blur/blur_{k}.png"
                    sharp = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
                    _save(root / gt, sharp)
                    _save(root / blur, 255 - sharp)
                    lines.append(f"{gt} {blur}")
            (root / f"RealBlur_{variant}_{split}_list.txt").write_text("\n".join(lines) + "\n")
    return root


def test_realblur_reads_the_list_files(realblur):
    dm = RealBlurDataModule(str(realblur), variant="R", patch_size=24, patches_per_epoch=6)
    dm.setup()
    assert dm.test_set_names == ["RealBlur_R"]
    assert len(dm.train_examples) == 6 and len(dm.test_examples["RealBlur_R"]) == 4
    assert [p.name for p in dm.test_examples["RealBlur_R"]] == [
        "scene230/blur_1",
        "scene230/blur_2",
        "scene231/blur_1",
        "scene231/blur_2",
    ]
    assert all("RealBlur-R_" in str(p.input) for p in dm.train_examples)
    batch = next(iter(dm.train_dataloader()))
    assert torch.equal(batch.input, 255 - batch.target)
    test = next(iter(dm.test_dataloader()[0]))
    assert test.target.shape == (1, 3, 40, 30) and torch.equal(test.input, 255 - test.target)
    assert RealBlurDataModule(str(realblur)).test_set_names == ["RealBlur_J"]


def test_realblur_list_errors(realblur, tmp_path):
    lst = realblur / "RealBlur_J_test_list.txt"
    lst.write_text(lst.read_text() + "only_one_path.png\n")
    with pytest.raises(DataError, match="line 5"):
        RealBlurDataModule(str(realblur)).setup()
    lst.write_text("a/b/gt/x.png a/b/blur/x.png\n")
    with pytest.raises(DataError, match="do not exist") as err:
        RealBlurDataModule(str(realblur)).setup()
    assert str(realblur / "a/b/gt/x.png") in str(err.value)
    with pytest.raises(DataError, match="RealBlur_"):
        RealBlurDataModule(str(tmp_path / "nothing")).setup()
    with pytest.raises(ConfigError):
        RealBlurDataModule(str(realblur), variant="X").setup()


def test_spread_picks_evenly():
    assert spread(list(range(10)), 3) == [0, 4, 9]  # 4.5 rounds half to even
    assert spread(list(range(7)), 4) == [0, 2, 4, 6]
    assert spread([1, 2], 5) == [1, 2] and spread([1, 2], 0) == []


def test_real_gopro_pairs_in_a_gopro_tree(gopro_tree, shared_datasets, tmp_path):
    """The two published GoPro pairs, linked into GOPRO_Large/{train,test}/<seq>/{blur,sharp}."""
    pairs = shared_datasets / "GoPro_sample" / "pairs"
    root = gopro_tree
    dm = GoProDataModule(
        str(root), patch_size=128, batch_size=8, patches_per_epoch=8, cache_dir=str(tmp_path / "c")
    )
    dm.setup()
    test = next(iter(dm.test_dataloader()[0]))
    assert test.name == ["Istanbul/000001"]
    assert test.input.shape == test.target.shape == (1, 3, 720, 1280)
    blur = np.asarray(Image.open(pairs / "Istanbul_blur1.png"))
    assert np.array_equal(test.input[0].permute(1, 2, 0).numpy(), blur)
    # a blurred frame is close to its own sharp frame (~24 dB), far from the other scene's
    assert _psnr(test.input, test.target) > 22
    flower_sharp = torch.from_numpy(np.array(Image.open(pairs / "Flower_sharp1.png")))
    assert _psnr(test.input[0].permute(1, 2, 0), flower_sharp) < 15
    batch = next(iter(dm.train_dataloader()))
    assert batch.input.shape == (8, 3, 128, 128)
    # aligned patches: each blurred patch is far closer to its own sharp patch than to another's
    own = [_psnr(i, t) for i, t in zip(batch.input, batch.target, strict=True)]
    other = [_psnr(i, t) for i, t in zip(batch.input, batch.target.roll(1, 0), strict=True)]
    assert min(own) > max(other) + 3, (own, other)
    assert (tmp_path / "c" / "train" / "Flower" / "blur" / "000001.png.c3.npy").is_file()
