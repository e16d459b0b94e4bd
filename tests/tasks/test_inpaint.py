"""Inpainting task: pass-through of known pixels, hole-only metrics, the mask channel, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from restore.data.batch import Batch
from restore.degradations import BoxMask, Compose, GaussianNoise
from restore.tasks import InpaintTask
from restore.train import train
from restore.utils.errors import ConfigError
from tests.conftest import SHARED, compose_config


class Constant(nn.Module):
    """A "network" that paints every pixel ``value``; records the input it was given."""

    def __init__(self, value: float, out_channels: int = 3):
        super().__init__()
        self.value, self.out_channels = value, out_channels
        self.scale = nn.Parameter(torch.ones(()))
        self.seen: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        self.seen = x
        b, _, h, w = x.shape
        return self.scale * torch.full((b, self.out_channels, h, w), self.value)


def _batch(target: Tensor, mask: Tensor) -> Batch:
    return Batch(target=target, mask=mask, input=target * mask)


def test_known_pixels_pass_through_and_the_network_sees_the_mask():
    task = InpaintTask(net=Constant(0.25), loss=nn.L1Loss(), degradation=BoxMask())
    target = torch.rand(2, 3, 16, 16)
    mask = (torch.rand(2, 1, 16, 16) > 0.4).float()
    batch = _batch(target, mask)
    pred = task.restore_batch(batch)
    known = mask.expand_as(target).bool()
    assert torch.equal(pred[known], target[known])  # exactly, not approximately
    assert (pred[~known] == 0.25).all()
    seen = task.net.seen
    assert seen.shape == (2, 4, 16, 16)
    assert torch.equal(seen[:, :3], target * mask) and torch.equal(seen[:, 3:], mask)
    # without pass-through the network's output is used everywhere
    raw = InpaintTask(net=Constant(0.25), loss=nn.L1Loss(), pass_through=False)
    assert (raw.restore_batch(batch) == 0.25).all()


def test_hole_metrics_cover_the_hole_only():
    # target 128/255 everywhere, a 4x8 hole in 16x16, the network paints 153/255 (25 levels off)
    task = InpaintTask(net=Constant(153 / 255), loss=nn.L1Loss(), degradation=BoxMask())
    target = torch.full((1, 3, 16, 16), 128 / 255)
    mask = torch.ones(1, 1, 16, 16)
    mask[..., 4:8, 2:10] = 0
    batch = _batch(target, mask)
    pred = task.restore_batch(batch)
    metrics = task.make_metrics("test/")
    metrics.update(pred, target, **task.metric_kwargs(batch))
    values = metrics.compute()
    hole_psnr = 20 * math.log10(255 / 25)
    assert values["test/hole_psnr"].item() == pytest.approx(hole_psnr, abs=1e-4)
    # the whole image: the same error on 32 of 256 pixels
    assert values["test/psnr"].item() == pytest.approx(hole_psnr + 10 * math.log10(8), abs=1e-3)


def test_hole_psnr_skips_images_without_holes():
    task = InpaintTask(net=Constant(0.5), loss=nn.L1Loss(), degradation=BoxMask())
    metric = task.make_metrics("")["hole_psnr"]
    target = torch.zeros(2, 1, 8, 8)
    pred = torch.full((2, 1, 8, 8), 0.1)
    mask = torch.ones(2, 1, 8, 8)
    mask[0, :, :2, :2] = 0  # only the first image has a hole
    metric.update(pred, target, mask)
    assert metric.compute().item() == pytest.approx(20.0, abs=1e-4)


def test_inpainting_needs_a_mask():
    task = InpaintTask(net=Constant(0.0), loss=nn.L1Loss(), degradation=GaussianNoise(sigma=5))
    with pytest.raises(ConfigError, match="needs a mask"):
        task.observe(Batch(target=torch.rand(1, 1, 8, 8), seed=torch.tensor([0])))


def test_mask_then_noise_gives_the_mask_and_noisy_known_pixels():
    degradation = Compose([BoxMask(boxes=1, size_range=(0.4, 0.5)), GaussianNoise(sigma=25)])
    task = InpaintTask(net=Constant(0.5, 1), loss=nn.L1Loss(), degradation=degradation)
    target = torch.full((2, 1, 32, 32), 0.5)
    batch = task.observe(Batch(target=target, seed=torch.tensor([3, 4])))
    hole = batch.mask == 0
    assert 0 < hole.float().mean() < 0.5
    # the holes keep the mask's fill plus noise, the known pixels are the clean value plus noise
    noise = batch.input - target * batch.mask
    assert 20 / 255 < noise[~hole].std() < 30 / 255
    # the same seeds give the same holes and noise (the published protocol)
    again = task.observe(Batch(target=target, seed=torch.tensor([3, 4])))
    assert torch.equal(again.input, batch.input) and torch.equal(again.mask, batch.mask)
    # as the observation's operator the mask keeps the known pixels of any image
    x = torch.rand(2, 1, 32, 32)
    assert torch.equal(batch.observation.operator(x), x * batch.mask)


@pytest.mark.parametrize(("channels", "model"), [(1, "unet"), (3, "dncnn")])
def test_task_config_gives_the_model_a_mask_channel(channels, model, tmp_path):
    cfg = compose_config(
        "train", ["task=inpaint", f"model={model}", f"data.channels={channels}"], tmp_path
    )
    assert cfg.model.in_channels == channels + 1
    assert cfg.model.out_channels == channels
    assert cfg.noise._target_ == "restore.degradations.StrokeMask"


@pytest.mark.parametrize(
    "mask", ["mask_random", "mask_boxes", "mask_strokes", "mask_text", "mask_file"]
)
def test_inpainting_trains_and_reports_hole_metrics(mask, tmp_path):
    if mask == "mask_file" and not (SHARED / "datasets").is_dir():
        pytest.skip("noise=mask_file defaults to a Deep Image Prior mask in ../shared")
    cfg = compose_config(
        "train",
        [
            "experiment=inpaint_unet",
            f"noise={mask}",
            "logger=csv",
            "model.depth=2",
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
    for key in ("psnr", "ssim", "hole_psnr", "input_psnr", "input_hole_psnr"):
        assert np.isfinite(metrics[f"test/embedded/{key}"]), key
    # the masked input is 0 in the holes: worse there than over the whole image, where the
    # known pixels are exact (whole-image MSE = hole fraction x hole MSE)
    assert metrics["test/embedded/input_hole_psnr"] < metrics["test/embedded/input_psnr"]
