"""Super-resolution task: benchmark-exact LR, the bicubic row, SR metrics and a training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from restore.archs.bicubic import Bicubic
from restore.data.batch import Batch
from restore.degradations import BicubicDownsample
from restore.eval import evaluate
from restore.tasks import SRTask
from restore.train import train
from restore.utils.errors import ConfigError
from tests.conftest import compose_config


def _read(path) -> torch.Tensor:
    a = np.array(Image.open(path))
    return torch.from_numpy(a).permute(2, 0, 1)[None]


def _task(scale: int = 2, **kwargs) -> SRTask:
    return SRTask(
        net=Bicubic(scale),
        loss=nn.L1Loss(),
        degradation=BicubicDownsample(scale),
        scale=scale,
        **kwargs,
    )


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_task_lr_equals_the_benchmark_lr_files(scale, shared_datasets):
    task = _task(scale)
    folder = shared_datasets / "Set5" / f"image_SRF_{scale}"
    for hr_path in sorted(folder.glob("*_HR.png"))[: 5 if scale == 2 else 2]:
        hr = _read(hr_path).float() / 255
        lr_file = _read(str(hr_path).replace("_HR", "_LR"))
        seed = torch.tensor([0])
        lr = task.eval().observe(Batch(target=hr, seed=seed)).input
        assert torch.equal((lr * 255).round().byte(), lr_file), hr_path.name
        # training makes the same LR when it rounds to 8 bits (the default)
        assert torch.equal(task.train().observe(Batch(target=hr), training=True).input, lr)


def test_bicubic_row_of_set5_x2_matches_the_published_value(shared_datasets, tmp_path):
    overrides = ["task=sr", "model=bicubic", "data=sr_benchmarks", "task.scale=2"]
    cfg = compose_config("eval", [*overrides, "~data.test_sets.Set14"], tmp_path)
    metrics = evaluate(cfg)
    assert metrics["test/Set5/psnr"] == pytest.approx(33.66, abs=0.05)
    # the input row is bicubic upscaling too (rounded per pass, as MATLAB on uint8)
    assert metrics["test/Set5/input_psnr"] == pytest.approx(metrics["test/Set5/psnr"], abs=0.02)
    assert metrics["test/Set5/rgb_psnr"] < metrics["test/Set5/psnr"]  # Y is the easier channel
    rows = (tmp_path / "test_per_image.csv").read_text().splitlines()
    assert len(rows) == 6 and rows[1].startswith("Set5,img_001,")


def test_metrics_crop_scale_border_pixels():
    task = _task(3)
    target = torch.randint(0, 256, (2, 3, 30, 36)).float() / 255  # on the 8-bit grid
    pred = target.clone()
    pred[..., :3, :] = 0  # errors only within the 3-pixel border
    pred[..., :, -3:] = 1
    metrics = task.make_metrics("test/")
    metrics.update(pred, target, gray=torch.tensor([False, False]))
    values = metrics.compute()
    assert torch.isinf(values["test/psnr"]) and torch.isinf(values["test/rgb_psnr"])
    pred[..., 3, 3] = 1 - target[..., 3, 3]  # one pixel inside the crop
    metrics.reset()
    metrics.update(pred, target)
    values = metrics.compute()
    assert torch.isfinite(values["test/psnr"]) and torch.isfinite(values["test/rgb_psnr"])


def test_degraded_view_is_bicubic_upscaling_of_the_input():
    task = _task(2)
    lr = torch.rand(1, 3, 10, 12)
    view = task.degraded_view(Batch(target=torch.zeros(1, 3, 20, 24), input=lr))
    assert view.shape == (1, 3, 20, 24)
    assert torch.equal(view, Bicubic(2, emulate_uint8=True)(lr))
    # on a smooth 8-bit image (no overshoot to clip) it is the float bicubic, rounded twice
    ramp = torch.linspace(0.2, 0.8, 12).expand(1, 3, 10, 12)
    ramp = (ramp * 255).round() / 255
    smooth = task.degraded_view(Batch(target=torch.zeros(1, 3, 20, 24), input=ramp))
    torch.testing.assert_close(smooth, Bicubic(2)(ramp), atol=1 / 255, rtol=0)


def test_sr_rejects_bad_scales_and_patch_sizes(tmp_path):
    with pytest.raises(ConfigError, match=r"task\.scale"):
        SRTask(net=Bicubic(1), loss=nn.L1Loss(), degradation=None, scale=1)
    with pytest.raises(ValueError, match="train it with task=sr"):
        BicubicDownsample(1)  # e.g. noise=bicubic under task=denoise (task.scale 1)
    with pytest.raises(ConfigError, match="shrinks images 3x"):
        SRTask(net=Bicubic(2), loss=nn.L1Loss(), degradation=BicubicDownsample(3), scale=2)
    cfg = compose_config(
        "train",
        ["task=sr", "task.scale=3", "model=edsr_baseline", "data.patch_size=32", "debug=fdr"],
        tmp_path,
    )
    with pytest.raises(ConfigError, match=r"multiple of task\.scale=3"):
        train(cfg)


def test_edsr_trains_and_tests_on_embedded_and_set5(shared_datasets, tmp_path):
    cfg = compose_config(
        "train",
        [
            "experiment=edsr_x2",
            "~data.test_sets.Set14",
            "model.n_blocks=1",
            "model.width=8",
            "data.patch_size=32",
            "data.batch_size=4",
            "data.patches_per_epoch=8",
            "data.val_crop=32",
            "trainer.max_epochs=1",
            "trainer.accelerator=cpu",
        ],
        tmp_path,
    )
    metrics = train(cfg)
    assert np.isfinite(metrics["train/loss"])
    for name in ("embedded", "Set5"):
        for key in ("psnr", "ssim", "rgb_psnr", "input_psnr"):
            assert np.isfinite(metrics[f"test/{name}/{key}"]), (name, key)
    # the bicubic row of Set5 x2 does not depend on the model
    assert metrics["test/Set5/input_psnr"] == pytest.approx(33.66, abs=0.05)
    assert (tmp_path / "test_samples_Set5.png").is_file()
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["restore_config"]["task"]["scale"] == 2


def test_benchmark_lr_files_get_the_bicubic_operator():
    # Deep Image Prior fits A(x) to the observation: for a benchmark's LR files A is the MATLAB
    # bicubic downscale that made them, so that DIP can super-resolve Set5 and Set14 as scored
    deg = BicubicDownsample(scale=4)
    task = SRTask(Bicubic(scale=4), nn.L1Loss(), deg, scale=4)
    hr = torch.rand(1, 3, 32, 32)
    lr = deg.eval().resize(hr, emulate_uint8=True)
    obs = task.observe(Batch(target=hr, input=lr)).observation
    assert obs.linear and obs.scale == 4
    torch.testing.assert_close(obs.operator(hr), deg.resize(hr))
    assert tuple(obs.operator(hr).shape) == (1, 3, 8, 8)
