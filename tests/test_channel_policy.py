"""One channel policy: a gray model given a colour photo restores its luma in eval, predict and
pipeline alike (``restore.imaging.match_channels``), bit for bit the same 8-bit result."""

from __future__ import annotations

import hydra
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf, open_dict
from PIL import Image

from restore.imaging import match_channels, quantize, rgb_to_gray
from restore.inference import load_task
from restore.pipeline import run_pipeline
from restore.predict import predict
from tests.conftest import compose_config


def test_rgb_to_gray_is_pils_luma_bit_for_bit():
    rgb = np.random.default_rng(1).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    pil = np.asarray(Image.fromarray(rgb).convert("L"))
    ours = rgb_to_gray(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)
    np.testing.assert_array_equal((ours[0, 0] * 255).round().byte().numpy(), pil)
    assert match_channels(torch.zeros(1, 1, 2, 2), 3).shape == (1, 3, 2, 2)
    with pytest.raises(ValueError, match="4 channels"):
        match_channels(torch.zeros(1, 4, 2, 2), 1)


def test_a_gray_model_restores_a_colour_photo_the_same_everywhere(gray_dncnn_ckpt, tmp_path):
    g = np.random.default_rng(0)
    base = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(0))
    smooth = torch.nn.functional.interpolate(base, size=(48, 64), mode="bilinear")[0]
    photo = (smooth.permute(1, 2, 0).numpy() * 255 + g.normal(0, 8, (48, 64, 3))).clip(0, 255)
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(photo.astype(np.uint8)).save(folder / "photo.png")

    # predict
    cfg = compose_config("predict", [f"ckpt_path={gray_dncnn_ckpt}", f"input={folder}"], tmp_path)
    with open_dict(cfg):
        cfg.output = str(tmp_path / "predicted")
    predict(cfg)
    predicted = np.asarray(Image.open(tmp_path / "predicted" / "photo.png"))

    # pipeline: the same checkpoint as its only stage
    cfg = compose_config(
        "pipeline",
        [
            f"input={folder}",
            f"output={tmp_path / 'piped'}",
            f"stages.denoise.ckpt={gray_dncnn_ckpt}",
            "~stages.deblur",
            "~stages.sr",
            "~stages.sharpen",
            "device=cpu",
        ],
        tmp_path,
    )
    run_pipeline(cfg)
    piped = np.asarray(Image.open(tmp_path / "piped" / "1_denoise" / "photo.png"))

    # eval: the checkpoint's data config reads the colour test image into its gray test set
    task = load_task(gray_dncnn_ckpt)
    stored = OmegaConf.create(task.run_config)
    with open_dict(stored):
        stored.data.test_sets = {"photos": str(folder)}
        stored.data.num_workers = 0
    datamodule = hydra.utils.instantiate(stored.data)
    datamodule.setup("test")
    loaders = dict(zip(datamodule.test_set_names, datamodule.test_dataloader(), strict=True))
    batch = next(iter(loaders["photos"]))
    with torch.inference_mode():
        restored = task.restore(batch.target.float() / 255)
    evaluated = (quantize(restored)[0, 0] * 255).round().byte().numpy()

    assert predicted.shape == piped.shape == evaluated.shape == (48, 64)  # gray out, as the model
    np.testing.assert_array_equal(predicted, evaluated)
    np.testing.assert_array_equal(piped, evaluated)
