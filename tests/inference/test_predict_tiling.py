"""restore.predict's tiling and precision options: margins from the receptive radius (tiled ==
untiled), bf16 close to fp32, and refused settings."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from restore.archs import DnCNN, UNet
from restore.imaging import read_image, to_array
from restore.inference.loading import load_task
from restore.predict import FALLBACK_OVERLAP, predict, restore_tensor, tile_margins
from restore.utils.errors import ConfigError
from tests.conftest import compose_config


def predict_cfg(tmp_path: Path, *overrides: str):
    return compose_config("predict", ["ckpt_path=unused", "input=unused", *overrides], tmp_path)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ([], (17, 0)),  # auto, auto: the radius, centres copied
        (["overlap=20"], (20, 0)),  # covers the radius: no blend needed
        (["overlap=10"], (10, 10)),  # does not: cross-faded as before
        (["blend=5"], (17, 5)),
        (["overlap=32", "blend=32"], (32, 32)),
    ],
)
def test_auto_margins_follow_the_receptive_radius(tmp_path, overrides, expected):
    task = SimpleNamespace(net=DnCNN(1, depth=17, width=8))
    assert tile_margins(predict_cfg(tmp_path, *overrides), task) == expected


def test_auto_margins_of_a_non_local_network_are_the_former_defaults(tmp_path):
    task = SimpleNamespace(net=UNet(1, 1, depth=2, width=8))
    cfg = predict_cfg(tmp_path)
    assert tile_margins(cfg, task) == (FALLBACK_OVERLAP, FALLBACK_OVERLAP)


def test_margins_too_large_for_the_tile_are_refused(tmp_path):
    task = SimpleNamespace(net=DnCNN(1, depth=17, width=8))
    with pytest.raises(ConfigError, match=r"tile=34 must exceed 2 \* overlap \+ blend \(34"):
        tile_margins(predict_cfg(tmp_path, "tile=34"), task)
    assert tile_margins(predict_cfg(tmp_path, "tile=35"), task) == (17, 0)


@pytest.mark.parametrize("override", ["overlap=-1", "blend=wide", "threads=0", "threads=two"])
def test_invalid_margins_and_threads_are_refused(tmp_path, override):
    cfg = predict_cfg(tmp_path, override)
    with pytest.raises(ConfigError, match=override.split("=")[0]):
        predict(cfg)


@pytest.fixture
def big_gray(tmp_path) -> Path:
    """A gray photo several tiles of 40 pixels wide and high (the tiny DnCNN's radius is 4)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(rng.integers(0, 256, (97, 130), dtype=np.uint8)).save(folder / "big.png")
    return folder


def test_predict_with_auto_margins_equals_the_untiled_network(gray_dncnn_ckpt, big_gray, tmp_path):
    out = tmp_path / "out"
    overrides = [f"ckpt_path={gray_dncnn_ckpt}", f"input={big_gray}", f"output={out}", "tile=40"]
    predict(compose_config("predict", [*overrides, "threads=2"], tmp_path))
    task = load_task(gray_dncnn_ckpt)
    x = read_image(big_gray / "big.png").tensor
    with torch.inference_mode():
        whole = to_array(task.restore(x), 8).astype(int)
    got = to_array(read_image(out / "big.png").tensor, 8).astype(int)
    # float32 tiles of another size round differently in the last bit, rarely across a level
    assert np.abs(got - whole).max() <= 1 and (got != whole).mean() < 1e-3
    # and the float result itself is the untiled one within float32 rounding
    tiled = restore_tensor(task, x, tile=40, overlap=4, blend=0)
    with torch.inference_mode():
        torch.testing.assert_close(tiled, task.restore(x), atol=1e-5, rtol=0)


def test_bf16_predict_writes_nearly_the_fp32_image(gray_dncnn_ckpt, big_gray, tmp_path):
    images = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        overrides = [f"ckpt_path={gray_dncnn_ckpt}", f"input={big_gray}", f"output={out}"]
        predict(compose_config("predict", [*overrides, f"precision={precision}"], tmp_path))
        images[precision] = to_array(read_image(out / "big.png").tensor, 8).astype(int)
    diff = np.abs(images["fp32"] - images["bf16"])
    assert diff.max() <= 3 and diff.mean() < 0.5


def test_bf16_tiles_equal_bf16_whole_image_closely(gray_dncnn_ckpt):
    """Tiling does not add error in bf16 either: the tiled bf16 result is the untiled bf16 one
    up to bf16 rounding, and both are within a fraction of a gray level of fp32."""
    task = load_task(gray_dncnn_ckpt)
    x = torch.rand(1, 1, 90, 110, generator=torch.Generator().manual_seed(0))
    fp32 = restore_tensor(task, x, tile=None, overlap=0)
    whole = restore_tensor(task, x, tile=None, overlap=0, precision="bf16")
    tiled = restore_tensor(task, x, tile=40, overlap=4, precision="bf16", blend=0)
    assert tiled.dtype == torch.float32
    assert (tiled - whole).abs().max().item() < 2e-2
    assert 0 < (tiled - fp32).abs().mean().item() < 1 / 255
