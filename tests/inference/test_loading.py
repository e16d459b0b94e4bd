"""The one checkpoint loader: the stored config, weights_only, one-line errors naming the file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from restore.inference.loading import (
    inference_config,
    load_checkpoint_config,
    load_task,
    read_checkpoint,
)
from restore.utils.build import build_task
from restore.utils.config import CHECKPOINT_CONFIG_KEY, to_container
from restore.utils.errors import ConfigError
from tests.conftest import compose_config

TINY = ["model.depth=3", "model.width=8"]


def _checkpoint(path: Path, *overrides: str, state_from: tuple[str, ...] | None = None) -> Path:
    """A checkpoint as restore.train writes it: a task's state_dict and its config (the state can
    come from another config, to make weights that do not fit)."""
    cfg = compose_config("train", [*TINY, *overrides], path.parent / "cfg")
    source = compose_config(
        "train", [*TINY, *(overrides if state_from is None else state_from)], path.parent / "src"
    )
    task = build_task(source)
    task.run_config = to_container(cfg)
    ckpt = {"state_dict": task.state_dict()}
    task.on_save_checkpoint(ckpt)  # the writer: the config under CHECKPOINT_CONFIG_KEY
    torch.save(ckpt, path)
    return path


def _one_line_error(match: str, *args, **kwargs) -> str:
    with pytest.raises(ConfigError, match=match) as info:
        load_task(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_the_writer_and_the_reader_share_the_key(tmp_path):
    path = _checkpoint(tmp_path / "a.ckpt")
    assert CHECKPOINT_CONFIG_KEY in torch.load(path, weights_only=True)
    assert load_checkpoint_config(path).model.depth == 3
    task = load_task(path)
    assert not task.training and task.run_config["model"]["depth"] == 3
    saved = torch.load(path, weights_only=True)["state_dict"]
    for name, value in task.net.state_dict().items():
        assert torch.equal(value, saved[f"net.{name}"]), name


def test_inference_config_is_one_rule():
    cfg = OmegaConf.create(
        {"model": {"weights": "w.pth"}, "loss": {"x": 1}, "optimizer": {"a": 1}, "scheduler": {}}
    )
    out = inference_config(cfg)
    assert out.optimizer is None and out.scheduler is None and out.model.weights is None
    assert out.loss._target_ == "restore.losses.LossSum"
    kept = inference_config(cfg, keep_loss=True, keep_weights=True)
    assert kept.loss == {"x": 1} and kept.model.weights == "w.pth"
    assert cfg.model.weights == "w.pth"  # the given config is left as it was


def test_missing_garbage_and_foreign_files_are_one_line_errors(tmp_path):
    missing = tmp_path / "nope.ckpt"
    assert _one_line_error("does not exist", missing).startswith(f"ckpt_path {missing} ")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"junk")
    _one_line_error(f"{junk} is not a readable checkpoint", junk)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"args": argparse.Namespace(lr=1)}, foreign)  # pickled code, refused unread
    _one_line_error("a pickled argparse.Namespace, which weights_only=True refuses to run", foreign)
    listed = tmp_path / "list.ckpt"
    torch.save([1, 2], listed)
    _one_line_error(f"{listed} is not a checkpoint: it holds a list", listed)


def test_checkpoints_without_weights_or_config(tmp_path):
    path = _checkpoint(tmp_path / "a.ckpt")
    config_only = tmp_path / "config_only.ckpt"
    torch.save({CHECKPOINT_CONFIG_KEY: read_checkpoint(path)[CHECKPOINT_CONFIG_KEY]}, config_only)
    _one_line_error("has no state_dict: not a Lightning checkpoint", config_only)
    bare = tmp_path / "bare.ckpt"
    torch.save({"state_dict": read_checkpoint(path)["state_dict"]}, bare)
    _one_line_error(f"{bare} holds no restore config", bare)
    # with the config given (restore.eval: the command line's), a bare checkpoint loads
    cfg = compose_config("train", TINY, tmp_path / "eval")
    assert load_task(bare, cfg=cfg).run_config["model"]["depth"] == 3


def test_weights_that_do_not_fit_name_the_keys_in_one_line(tmp_path):
    deeper = _checkpoint(tmp_path / "deeper.ckpt", "model.depth=4", state_from=())
    message = _one_line_error(f"the weights in {deeper} do not fit its stored model config", deeper)
    assert "missing" in message
    wider = _checkpoint(tmp_path / "wider.ckpt", "model.width=16", state_from=())
    assert "shape" in _one_line_error("do not fit", wider)


def test_errors_name_the_key_that_gave_the_file(tmp_path):
    message = _one_line_error("does not exist", tmp_path / "x.ckpt", what="stages.sr.ckpt")
    assert message.startswith("stages.sr.ckpt ")
