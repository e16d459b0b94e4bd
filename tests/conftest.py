"""Shared fixtures: composed configs pointed at a temporary output dir, and ../shared lookups."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from restore.utils.config import CONFIG_DIR, PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared"
# This project's own tests read the benchmark sets and released weights from ../shared: the
# configs' paths.data_dir and paths.weights_dir point there, here and in the CLI runs tests start.
if (SHARED / "datasets").is_dir():
    os.environ["RESTORE_DATA_DIR"] = str(SHARED / "datasets")
if (SHARED / "weights").is_dir():
    os.environ["RESTORE_WEIGHTS_DIR"] = str(SHARED / "weights")

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """``../shared/datasets`` beside the project; tests that need it skip where it is absent."""
    path = SHARED / "datasets"
    if not path.is_dir():
        pytest.skip("../shared/datasets is absent")
    return path


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    path = SHARED / "weights"
    if not path.is_dir():
        pytest.skip("../shared/weights is absent")
    return path


@pytest.fixture
def gopro_tree(shared_datasets, tmp_path) -> Path:
    """The two published GoPro pairs linked into GOPRO_Large/{train,test}/<seq>/{blur,sharp}."""
    pairs = shared_datasets / "GoPro_sample" / "pairs"
    root = tmp_path / "GOPRO_Large"
    for split, seq in (("train", "Flower"), ("test", "Istanbul")):
        for kind in ("blur", "sharp"):
            link = root / split / seq / kind / "000001.png"
            link.parent.mkdir(parents=True)
            link.symlink_to((pairs / f"{seq}_{kind}1.png").resolve())
    return root


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def compose_config(name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose ``conf/<name>.yaml`` as Hydra would, with the run's output dir set to a tmp dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=False)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


# Small, fast settings for end-to-end runs on the CPU.
FAST = [
    "trainer.accelerator=cpu",
    "data.patch_size=32",
    "data.batch_size=8",
    "data.patches_per_epoch=32",
    "data.val_crop=64",
    "model.depth=4",
    "model.width=16",
    "trainer.max_epochs=2",
]


@pytest.fixture
def train_cfg(tmp_path):
    def make(*overrides: str, fast: bool = True) -> DictConfig:
        return compose_config("train", [*(FAST if fast else []), *overrides], tmp_path)

    return make


@pytest.fixture(scope="session")
def gray_dncnn_ckpt(tmp_path_factory) -> Path:
    """A tiny gray DnCNN (4 layers: receptive field 9) trained for a few steps, shared by the
    tests that only read a checkpoint (predict, export, report, channel policy)."""
    from restore.train import train

    run = tmp_path_factory.mktemp("gray_dncnn")
    overrides = [*FAST, "trainer.max_epochs=1", "test=false", "logger=[]"]
    train(compose_config("train", [*overrides, "callbacks=[model_checkpoint]"], run))
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture(autouse=True)
def _no_wandb_run_left_open():
    """A test whose run logged to W&B in-process leaves ``wandb.run`` open, and the next
    WandbLogger would write into that run's folder: finish it after every test."""
    yield
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()
        wandb.teardown()  # and its service: the next run starts from a clean process state
