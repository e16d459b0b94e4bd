"""Deblurring task: reproducible synthetic blur in evaluation, real pairs as given."""

from __future__ import annotations

import hydra
import numpy as np
import pytest
import torch
from torch import nn
from torchmetrics.functional.image import peak_signal_noise_ratio

from restore.data import RestorationDataModule
from restore.data.batch import Batch
from restore.data.layouts import embedded
from restore.degradations import SeededNoise
from restore.metrics import quantize
from restore.tasks import DeblurTask
from restore.train import train
from restore.utils.errors import DataError
from tests.conftest import compose_config


def test_deblur_trains_and_its_test_blur_is_the_seeded_blur(tmp_path):
    cfg = compose_config(
        "train",
        [
            "task=deblur",
            "model=unet",
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
    assert cfg.noise._target_ == "restore.degradations.MotionBlur"
    metrics = train(cfg)
    assert np.isfinite(metrics["train/loss"])
    assert np.isfinite(metrics["test/embedded/psnr"])
    # the logged input PSNR is that of the motion blur drawn from RandomState(eval_seed)
    blur = hydra.utils.instantiate(cfg.noise)
    dm = RestorationDataModule(embedded, channels=1)
    psnrs = []
    for item in dm.test_dataset("embedded"):
        x = item["target"][None].float() / 255
        y = quantize(blur(x, SeededNoise([0])))
        psnrs.append(peak_signal_noise_ratio(y, x, data_range=1.0).item())
    assert metrics["test/embedded/input_psnr"] == pytest.approx(np.mean(psnrs), abs=1e-3)


def test_paired_inputs_are_used_as_given():
    task = DeblurTask(net=nn.Identity(), loss=nn.L1Loss(), channels_last=False)
    target = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    blurred = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    batch = task.observe(Batch(target=target, input=blurred))
    assert torch.equal(batch.input, blurred.float() / 255)
    assert torch.equal(batch.target, target.float() / 255)
    assert batch.observation.linear is False  # nothing is known of a real blur
    with pytest.raises(DataError, match="aligned crops"):
        task.observe(Batch(target=target, input=blurred[..., :6]))


def test_unet_deblurring_trains_on_real_gopro_pairs(gopro_tree, tmp_path):
    """fast_dev_run of a deblurring U-Net on the published GoPro pairs in a GOPRO_Large tree."""
    root = gopro_tree
    cfg = compose_config(
        "train",
        [
            "task=deblur",
            "data=gopro",
            f"data.layout.root={root}",
            f"data.cache_dir={tmp_path / 'cache'}",
            "data.num_workers=0",
            "data.patch_size=64",
            "data.batch_size=2",
            "data.val_crop=64",
            "model=unet",
            "model.depth=2",
            "model.width=8",
            "debug=fdr",
        ],
        tmp_path / "run",
    )
    metrics = train(cfg)
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
    # the real blurred frame is the input: its PSNR against the sharp frame is the published pair's
    assert metrics["test/GoPro/input_psnr"] > 22
