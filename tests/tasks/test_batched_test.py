"""Test images scored in batches (data.eval_batch_size) give the numbers of one-by-one scoring:
the set means, and every metric of every image in test_per_image.csv."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from restore.archs import DnCNN
from restore.data import RestorationDataModule
from restore.degradations import BoxMask, GaussianNoise
from restore.tasks import DenoisingTask, InpaintTask


def _mixed_sizes(folder, channels):
    # two landscape, three portrait images: BSD68's mix of 481x321 and 321x481
    folder.mkdir()
    rs = np.random.RandomState(0)
    mode, extra = ("L", ()) if channels == 1 else ("RGB", (3,))
    for i, size in enumerate([(24, 32), (32, 24), (24, 32), (32, 24), (32, 24)]):
        Image.fromarray(rs.randint(0, 256, (*size, *extra), dtype=np.uint8), mode).save(
            folder / f"{i:02d}.png"
        )


def _scores(task, folder, channels, eval_batch_size):
    dm = RestorationDataModule(
        None, channels=channels, test_sets={"M": folder}, eval_batch_size=eval_batch_size
    )
    trainer = L.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    trainer.test(task, datamodule=dm, verbose=False)
    records = sorted(task.test_records, key=lambda r: r["image"])
    return {k: float(v) for k, v in trainer.callback_metrics.items()}, records


@pytest.mark.parametrize("kind", ["denoise", "inpaint"])
def test_batched_test_images_score_as_one_by_one(tmp_path, kind):
    torch.manual_seed(0)
    if kind == "denoise":
        channels = 1
        task = DenoisingTask(DnCNN(1, 1, depth=3, width=8), nn.MSELoss(), GaussianNoise(sigma=25))
    else:
        channels = 3
        task = InpaintTask(DnCNN(4, 3, depth=3, width=8, residual=False), nn.L1Loss(), BoxMask())
    _mixed_sizes(tmp_path / "M", channels)
    one_by_one, records_1 = _scores(task, tmp_path / "M", channels, None)
    batched, records_b = _scores(task, tmp_path / "M", channels, 2)
    assert set(one_by_one) == set(batched) and len(one_by_one) >= 4
    for key, value in one_by_one.items():
        assert batched[key] == pytest.approx(value, abs=1e-5), key
    assert [r["image"] for r in records_b] == [r["image"] for r in records_1]
    for a, b in zip(records_1, records_b, strict=True):
        assert set(a) == set(b) and {"psnr", "ssim", "input_psnr"} <= set(a)
        for key in a:
            if key not in ("set", "image"):
                assert b[key] == pytest.approx(a[key], abs=1e-5), (a["image"], key)
