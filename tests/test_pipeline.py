"""restore.pipeline: DnCNN -> U-Net deblur -> EDSR x2 -> unsharp mask on a GoPro crop."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from kornia.filters import unsharp_mask
from omegaconf import open_dict
from PIL import Image

from restore.pipeline import UnsharpMask, run_pipeline
from restore.train import train
from restore.utils.errors import ConfigError
from tests.conftest import compose_config
from tests.test_train import run_cli

TINY = [
    "trainer.accelerator=cpu",
    "data.channels=3",
    "data.patch_size=32",
    "data.batch_size=4",
    "data.patches_per_epoch=8",
    "data.val_crop=32",
    "trainer.max_epochs=1",
    "test=false",
]
STAGES = {
    "denoise": ["model.depth=3", "model.width=8"],
    "deblur": ["task=deblur", "model=unet", "model.depth=2", "model.width=8"],
    "sr": ["task=sr", "model=edsr_baseline", "model.n_blocks=1", "model.width=8"],
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Tiny DnCNN (denoise), U-Net (deblur) and EDSR x2 checkpoints from restore.train."""
    out = {}
    for name, overrides in STAGES.items():
        run_dir = tmp_path_factory.mktemp(name)
        train(compose_config("train", TINY + overrides, run_dir))
        out[name] = run_dir / "checkpoints" / "last.ckpt"
        assert out[name].is_file()
    return out


@pytest.fixture(scope="module")
def gopro_crop(shared_datasets, tmp_path_factory) -> dict[str, Path]:
    """A 64x64 crop of a GoPro blurred photo, its sharp 64x64 crop and a 128x128 sharp one."""
    folder = tmp_path_factory.mktemp("gopro")
    pairs = shared_datasets / "GoPro_sample" / "pairs"
    blur = Image.open(pairs / "Flower_blur1.png").convert("RGB")
    sharp = Image.open(pairs / "Flower_sharp1.png").convert("RGB")
    box = (600, 300, 664, 364)
    blur.crop(box).save(folder / "flower.png")
    (folder / "gt").mkdir()
    sharp.crop(box).save(folder / "gt" / "flower.png")
    sharp.crop((600, 300, 728, 428)).save(folder / "sharp_hr.png")
    return {
        "input": folder / "flower.png",
        "gt": folder / "gt",
        "gt_hr": folder / "sharp_hr.png",
    }


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def test_cli_chain_writes_every_stage_and_scores_those_at_the_gt_size(
    checkpoints, gopro_crop, tmp_path
):
    out = tmp_path / "out"
    result = run_cli(
        "restore.pipeline",
        f"input={gopro_crop['input']}",
        f"gt={gopro_crop['gt']}",
        f"output={out}",
        *(f"stages.{name}.ckpt={path}" for name, path in checkpoints.items()),
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sizes = {"1_denoise": 64, "2_deblur": 64, "3_sr": 128, "4_sharpen": 128}
    for folder, size in sizes.items():
        image = np.array(Image.open(out / folder / "flower.png"))
        assert image.shape == (size, size, 3), folder
    with open(out / "pipeline_metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["stage"] for r in rows] == ["input", "denoise", "deblur", "sr", "sharpen"]
    scored = {r["stage"]: r for r in rows if r["note"] == "scored"}
    assert set(scored) == {"input", "denoise", "deblur"}
    assert all("!= gt" in r["note"] and r["psnr"] == "" for r in rows[3:])
    # the scores are those of the written 8-bit images against the ground truth
    gt = np.array(Image.open(gopro_crop["gt"] / "flower.png"))
    written = np.array(Image.open(out / "2_deblur" / "flower.png"))
    assert float(scored["deblur"]["psnr"]) == pytest.approx(_psnr(written, gt), abs=1e-3)
    source = np.array(Image.open(gopro_crop["input"]))
    assert float(scored["input"]["psnr"]) == pytest.approx(_psnr(source, gt), abs=1e-3)
    assert "deblur" in result.stdout and "1/1 images" in result.stdout


def test_high_resolution_gt_scores_the_stages_after_sr(checkpoints, gopro_crop, tmp_path):
    cfg = compose_config(
        "pipeline",
        [
            f"input={gopro_crop['input']}",
            f"gt={gopro_crop['gt_hr']}",
            f"output={tmp_path}",
            f"stages.sr.ckpt={checkpoints['sr']}",
            "~stages.denoise",
            "~stages.deblur",
        ],
        tmp_path,
    )
    rows = run_pipeline(cfg)
    assert [r["stage"] for r in rows] == ["input", "sr", "sharpen"]
    assert [r["psnr"] is not None for r in rows] == [False, True, True]
    assert rows[1]["what"].startswith("SRTask EDSR")


def test_missing_checkpoint_is_a_clear_error(gopro_crop, tmp_path):
    overrides = [f"input={gopro_crop['input']}", f"output={tmp_path}"]
    cfg = compose_config("pipeline", overrides, tmp_path)
    with pytest.raises(ConfigError, match=r"stages\.denoise\.ckpt is required"):
        run_pipeline(cfg)
    with open_dict(cfg):
        cfg.stages = {"odd": {"ckpt": "x.ckpt", "_target_": "restore.pipeline.UnsharpMask"}}
    with pytest.raises(ConfigError, match="exactly one of"):
        run_pipeline(cfg)


def test_unsharp_mask_is_kornias_scaled_by_amount():
    x = torch.rand(1, 3, 20, 20)
    op = UnsharpMask(sigma=1.0, amount=0.5)
    expected = x + 0.5 * (unsharp_mask(x, (7, 7), (1.0, 1.0), border_type="reflect") - x)
    torch.testing.assert_close(op(x), expected)
    torch.testing.assert_close(UnsharpMask(sigma=1.0, amount=0.0)(x), x)
