"""noise=jpeg: libjpeg compression artefacts (the contract tests cover it as every member)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from restore.degradations import SeededNoise, TorchNoise
from restore.degradations.jpeg import JPEGCompression


def _pil_jpeg(array: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer))


@pytest.mark.parametrize("quality", [10, 40])
def test_equals_pils_jpeg_bit_for_bit(quality):
    gray, rgb = data.camera()[:64, :96], data.astronaut()[:64, :96]
    x = torch.from_numpy(gray)[None, None].float() / 255
    y = JPEGCompression(quality=quality)(x)
    np.testing.assert_array_equal((y[0, 0] * 255).round().byte().numpy(), _pil_jpeg(gray, quality))
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    y = JPEGCompression(quality=quality)(x)
    ours = (y[0] * 255).round().byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(ours, _pil_jpeg(rgb, quality))


def test_lower_quality_loses_more():
    x = torch.from_numpy(data.camera()[:128, :128])[None, None].float() / 255
    errors = [(JPEGCompression(quality=q)(x) - x).pow(2).mean().item() for q in (10, 30, 90)]
    assert errors[0] > errors[1] > errors[2] > 0


def test_blind_quality_is_drawn_per_image_and_seeded():
    deg = JPEGCompression(quality=None, quality_range=(10, 40))
    x = torch.rand(64, 1, 8, 8)
    drawn = deg.qualities(x, SeededNoise(list(range(64))))
    assert set(drawn) <= set(range(10, 41)) and len(set(drawn)) > 10
    assert drawn == deg.qualities(x, SeededNoise(list(range(64))))
    assert set(deg.qualities(x, TorchNoise())) <= set(range(10, 41))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="exactly one"):
        JPEGCompression(quality=20, quality_range=(10, 40))
    with pytest.raises(ValueError, match=r"\[1, 100\]"):
        JPEGCompression(quality=0)
    with pytest.raises(ValueError, match="gray or RGB"):
        JPEGCompression()(torch.rand(1, 2, 8, 8))


def test_trains_and_dip_restores_it_through_the_groups(train_cfg, tmp_path):
    """No other file names JPEG: the noise group's YAML is all the platform needs."""
    from restore.dip.run import run
    from restore.train import train
    from tests.conftest import compose_config

    metrics = train(train_cfg("noise=jpeg", "noise.quality=10", "debug=fdr", "test=false"))
    assert np.isfinite(metrics["train/loss"])
    image = tmp_path / "cam.png"
    Image.fromarray(data.camera()[200:232, 200:232]).save(image)
    cfg = compose_config(
        "dip",
        [
            f"image={image}",
            "noise=jpeg",
            "noise.quality=10",
            "model.max_steps=4",
            "model.input_depth=4",
            "model.generator.num_scales=2",
            "model.early_stopping.window=2",
            "csv_log=false",
        ],
        tmp_path,
    )
    summary = run(cfg, out_dir=tmp_path / "dip")
    assert summary["noise"] == "JPEGCompression" and summary["steps"] == 4
    assert np.isfinite(summary["psnr_observation"]) and np.isfinite(summary["psnr"])
