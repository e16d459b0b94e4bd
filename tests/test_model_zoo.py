"""The model zoo through the platform: every model trains via the CLI; model-specific objectives."""

from __future__ import annotations

import hydra
import pytest
import torch

from restore.archs import ConditionalVAE
from restore.utils.config import CONFIG_DIR

from .conftest import compose_config
from .test_train import run_cli

# bicubic, bm3d and median have no parameters (evaluation baselines, checked below); dip fits each
# image at test time (it is scored by restore.eval, and restore.train refuses it); edsr is
# edsr_baseline's class at 43M params
PARAMETER_FREE = ("bicubic", "bm3d", "median")
MODELS = sorted(
    p.stem
    for p in (CONFIG_DIR / "model").glob("*.yaml")
    if p.stem not in (*PARAMETER_FREE, "dip", "edsr")
)


@pytest.mark.parametrize("model", PARAMETER_FREE)
def test_the_models_left_out_of_training_have_no_parameters(model, tmp_path):
    task = "task=sr" if model == "bicubic" else "task=denoise"  # bicubic upscales: SR only
    cfg = compose_config("eval", [f"model={model}", task], tmp_path)
    net = hydra.utils.instantiate(cfg.model)
    assert sum(p.numel() for p in net.parameters()) == 0


def test_every_model_trains_from_the_command_line(tmp_path):
    # one multirun process, one fast_dev_run job per model (test=false: PixelCNN decodes pixel by
    # pixel and a full-size test image would dominate the suite's time)
    result = run_cli(
        "restore.train",
        "-m",
        f"model={','.join(MODELS)}",
        "+trainer.fast_dev_run=true",
        "test=false",
        "data.batch_size=4",
        "data.patch_size=32",
        "data.val_crop=32",
        "trainer.accelerator=cpu",
        "logger=csv",
        "callbacks=none",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-4000:]
    jobs = [p for p in tmp_path.iterdir() if p.is_dir() and p.name.isdigit()]
    assert len(jobs) == len(MODELS)
    for job in jobs:  # fast_dev_run replaces loggers: the job log tells how each job ended
        log = (job / "train.log").read_text()
        assert "job finished" in log and "job failed" not in log, log[-2000:]


@pytest.mark.parametrize(
    ("model", "terms"),
    [("pixelcnn", {"nll"}), ("vae", {"l1", "ssim", "tv", "kl"}), ("dncnn", {"mse"})],
)
def test_default_loss_is_the_models_objective(model, terms, tmp_path):
    cfg = compose_config("train", [f"model={model}"], tmp_path)
    assert set(hydra.utils.instantiate(cfg.loss).terms) == terms


def test_vae_kl_term_is_computed_and_beta_zero_leaves_reconstruction(tmp_path):
    torch.manual_seed(0)
    net = ConditionalVAE(1, 1, width=8, latent_channels=4, depth=2).train()
    clean = torch.rand(2, 1, 32, 32)
    pred, aux = net(clean + 0.1 * torch.randn_like(clean))
    cfg = compose_config("train", ["model=vae", "loss=l1_ssim_tv_kl"], tmp_path)
    loss = hydra.utils.instantiate(cfg.loss)
    total, terms = loss(pred, clean, **aux)
    assert terms["kl"].item() > 0
    recon = sum(loss.weights[k] * terms[k].item() for k in ("l1", "ssim", "tv"))
    assert total.item() == pytest.approx(recon + loss.weights["kl"] * terms["kl"].item(), rel=1e-5)
    cfg.loss.weights.kl = 0.0
    total0, _ = hydra.utils.instantiate(cfg.loss)(pred, clean, **aux)
    assert total0.item() == pytest.approx(recon, rel=1e-5)


def test_vae_logs_kl_and_reconstruction_separately(train_cfg):
    from restore.train import train

    metrics = train(
        train_cfg("model=vae", "model.depth=2", "model.width=8", "debug=fdr", "test=false")
    )
    assert {"train/kl", "train/l1", "train/ssim", "train/loss"} <= set(metrics)
