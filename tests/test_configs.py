"""Every option of every config group composes, and what it describes can be built."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from restore.utils.build import build_task, instantiate_dict
from restore.utils.config import CONFIG_DIR

from .conftest import compose_config


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def test_every_group_has_options():
    for group in (
        "model",
        "data",
        "noise",
        "loss",
        "trainer",
        "logger",
        "callbacks",
        "paths",
        "hydra",
        "experiment",
        "debug",
        "optimizer",
        "scheduler",
        "task",
    ):
        assert options(group), f"conf/{group} is empty"


@pytest.mark.parametrize("name", ["train", "eval"])
def test_root_configs_compose_and_resolve(name, tmp_path):
    cfg = compose_config(name, [], tmp_path)
    OmegaConf.resolve(cfg)  # no missing or broken interpolation
    assert cfg.paths.output_dir == str(tmp_path)


@pytest.mark.parametrize("option", options("model"))
def test_model_options_build_and_run(option, tmp_path):
    if option == "bm3d":  # the reference BM3D is a dev extra (not in the floors check's venv)
        pytest.importorskip("bm3d")
    # DIP fits each image: a few steps of its smallest generator show it runs end to end
    tiny = ["model.max_steps=3", "model.generator.num_scales=2", "model.input_depth=4"]
    cfg = compose_config("train", [f"model={option}", *(tiny if option == "dip" else [])], tmp_path)
    net = hydra.utils.instantiate(cfg.model).eval()
    scale = cfg.task.get("scale", 1)
    x = torch.rand(1, cfg.data.channels, 24, 24)
    with torch.no_grad():
        y = net(x)
    assert y.shape[-2:] == (24 * scale, 24 * scale)


# every noise option: tests/degradations/test_contract.py builds each and checks its observation


@pytest.mark.parametrize("option", options("loss"))
def test_loss_options_build(option, tmp_path):
    cfg = compose_config("train", [f"loss={option}"], tmp_path)
    if option == "default":  # built from the model's class
        assert list(hydra.utils.instantiate(cfg.loss).terms) == ["mse"]
    else:
        assert OmegaConf.to_container(cfg.loss.terms), f"loss={option} has no terms"


@pytest.mark.parametrize("group", ["optimizer", "scheduler"])
def test_optimisation_options_build(group, tmp_path):
    for option in options(group):
        cfg = compose_config("train", [f"{group}={option}"], tmp_path)
        task = build_task(cfg)
        opt = task.configure_optimizers()
        assert isinstance(opt, torch.optim.Optimizer) or "lr_scheduler" in opt


@pytest.mark.parametrize("option", options("data"))
def test_data_options_build(option, tmp_path):
    cfg = compose_config("train", [f"data={option}"], tmp_path)
    dm = hydra.utils.instantiate(cfg.data)
    assert dm.channels == cfg.data.channels


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_options_compose(option, tmp_path):
    cfg = compose_config("train", [f"trainer={option}"], tmp_path)
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"
    if option in ("cpu", "ddp_sim", "default"):
        trainer = hydra.utils.instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
        assert trainer.max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed", "32-true"])
def test_precision_is_settable(precision, tmp_path):
    cfg = compose_config("train", [f"trainer.precision={precision}"], tmp_path)
    assert cfg.trainer.precision == precision


@pytest.mark.parametrize("option", options("logger"))
def test_logger_options_build(option, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cfg = compose_config("train", [f"logger={option}"], tmp_path)
    loggers = instantiate_dict(cfg.logger)
    assert loggers
    for logger in loggers:
        if hasattr(logger, "experiment") and type(logger).__name__ == "WandbLogger":
            logger.experiment.finish()


@pytest.mark.parametrize("option", options("callbacks"))
def test_callback_options_build(option, tmp_path):
    cfg = compose_config("train", [f"callbacks={option}"], tmp_path)
    callbacks = instantiate_dict(cfg.callbacks)
    assert option == "none" or callbacks


@pytest.mark.parametrize("option", options("experiment"))
def test_experiment_options_compose(option, tmp_path):
    cfg = compose_config("train", [f"experiment={option}"], tmp_path)
    OmegaConf.resolve(cfg)
    if cfg.get("noise"):  # super-resolution has no degradation besides its downsampling
        hydra.utils.instantiate(cfg.noise)


@pytest.mark.parametrize("option", options("debug"))
def test_debug_options_compose(option, tmp_path):
    cfg = compose_config("train", [f"debug={option}"], tmp_path)
    assert cfg.trainer.max_epochs >= 1


def test_output_dir_under_outputs():
    text = (CONFIG_DIR / "hydra" / "default.yaml").read_text()
    assert "${paths.log_dir}" in text
    assert Path(CONFIG_DIR.parent / "outputs" / ".gitkeep").exists()
