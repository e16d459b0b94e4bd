"""task=dejpeg: JPEG artefact removal, a choice of metrics (PSNR-B) plus a YAML."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio_with_blocked_effect

from restore.tasks.dejpeg import PSNRB
from tests.conftest import compose_config, read_csv


def test_psnr_b_is_the_mean_over_images_of_torchmetrics_psnr_b():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 1, 32, 32, generator=g)
    preds = (target + 0.05 * torch.randn(3, 1, 32, 32, generator=g)).clamp(0, 1)
    metric = PSNRB()
    metric.update(preds[:2], target[:2])
    metric.update(preds[2:], target[2:])
    per_image = [
        peak_signal_noise_ratio_with_blocked_effect(p[None], t[None], data_range=1.0)
        for p, t in zip(preds, target, strict=True)
    ]
    assert metric.compute().item() == pytest.approx(torch.stack(per_image).mean().item(), abs=1e-5)
    # blocking across the 8x8 grid costs PSNR-B more than PSNR
    flat = torch.full((2, 1, 32, 32), 0.5)
    offsets = 0.04 * torch.randn(2, 1, 4, 4, generator=g)  # one per 8x8 block
    blocky = flat + offsets.repeat_interleave(8, -1).repeat_interleave(8, -2)
    psnr_b = PSNRB()
    psnr_b.update(blocky, flat)
    mse = (blocky - flat).pow(2).mean(dim=(1, 2, 3))
    assert psnr_b.compute().item() < (10 * torch.log10(1 / mse)).mean().item()


def test_task_dejpeg_trains_and_reports_psnr_b(train_cfg, tmp_path):
    from restore.train import train

    cfg = train_cfg("task=dejpeg", "noise.quality=10")
    assert cfg.noise._target_.endswith("JPEGCompression")
    metrics = train(cfg)
    assert {"val/psnr_b", "test/embedded/psnr_b", "test/embedded/input_psnr_b"} <= set(metrics)
    # JPEG at quality 10 blocks: the input's PSNR-B is below its PSNR
    assert metrics["test/embedded/input_psnr_b"] < metrics["test/embedded/input_psnr"]
    rows = read_csv(tmp_path / "test_metrics.csv")
    assert "psnr_b" in rows[0] and "input_psnr_b" in rows[0]


def test_dejpeg_composes_with_other_noise(tmp_path):
    cfg = compose_config("train", ["task=dejpeg", "noise=gaussian"], tmp_path)
    assert cfg.noise._target_.endswith("GaussianNoise")  # the task suggests jpeg, the user chooses
