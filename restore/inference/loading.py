"""Reading ``restore.train`` checkpoints: the one loader of the platform.

A checkpoint stores the resolved run config under ``CHECKPOINT_CONFIG_KEY``: the task is rebuilt
from it with ``build_task`` and the trained weights are loaded with
``torch.load(weights_only=True)``, so a checkpoint is read as data and cannot run code. Every
entry point reads checkpoints through this module (eval, predict, export, pipeline, report), with
the same one-line :class:`ConfigError` naming the file when it is missing, is not a checkpoint,
holds no stored config or its weights do not fit the model.
"""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from restore.tasks import RestorationTask
from restore.utils.build import build_task
from restore.utils.config import CHECKPOINT_CONFIG_KEY, to_container
from restore.utils.errors import ConfigError

log = logging.getLogger(__name__)

# Inference needs no loss; rebuilding the trained one could need pretrained feature-network
# weights (perceptual losses) that a user's machine lacks. Its state (frozen features) is skipped.
_INFERENCE_LOSS = {
    "_target_": "restore.losses.LossSum",
    "terms": {"mse": {"_target_": "restore.losses.MSELoss"}},
}


def _first_line(err: BaseException) -> str:
    """The informative line of a (often multi-line) torch error."""
    text = str(err)
    unsupported = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if unsupported:
        return f"it holds a pickled {unsupported[1]}, which weights_only=True refuses to run"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def read_checkpoint(
    ckpt_path: str | Path, what: str = "ckpt_path", map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """The checkpoint file as a dict of plain data and tensors (``weights_only=True``, mapped).

    ``what`` names the file in errors (the config key that gave it, e.g. ``stages.sr.ckpt``).

    Raises:
        ConfigError: the file does not exist or is not a readable checkpoint.
    """
    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist: give the path of a .ckpt file")
    try:
        try:  # mmap: tensors are mapped lazily, so reading just the config is cheap
            ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=True)
        except RuntimeError:  # files in torch's legacy (non-zip) format cannot be mapped
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises assorted errors on foreign files (struct.error, ...)
        raise ConfigError(
            f"{what} {path} is not a readable checkpoint: {_first_line(err)}"
        ) from None
    if not isinstance(ckpt, dict):
        raise ConfigError(
            f"{what} {path} is not a checkpoint: it holds a {type(ckpt).__name__}, not a dict"
        )
    return ckpt


def checkpoint_config(ckpt: dict[str, Any]) -> DictConfig | None:
    """The resolved run config stored in a read checkpoint, or None for a bare one."""
    stored = ckpt.get(CHECKPOINT_CONFIG_KEY)
    return OmegaConf.create(stored) if stored is not None else None


def load_checkpoint_config(ckpt_path: str | Path, what: str = "ckpt_path") -> DictConfig | None:
    """The resolved config a training run stored in its checkpoint, or None for a bare one."""
    return checkpoint_config(read_checkpoint(ckpt_path, what))


def inference_config(
    cfg: DictConfig, keep_loss: bool = False, keep_weights: bool = False
) -> DictConfig:
    """A run config made buildable anywhere for inference: the one rule of what is left out.

    No optimizer or scheduler; no loss (a plain MSE stands in) unless ``keep_loss``; no
    ``model.weights`` (initial weights; the file may be gone and a checkpoint's weights replace
    them) unless ``keep_weights`` (a run that scored released weights, without a checkpoint).
    """
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.optimizer = None
        cfg.scheduler = None
        if not keep_loss:
            cfg.loss = _INFERENCE_LOSS
        if not keep_weights and cfg.get("model") is not None and "weights" in cfg.model:
            cfg.model.weights = None
    return cfg


def build_for_inference(
    cfg: DictConfig, keep_loss: bool = False, keep_weights: bool = False
) -> RestorationTask:
    """The task of a run config with only what inference needs (:func:`inference_config`), in
    eval mode, with ``run_config`` set to that config."""
    cfg = inference_config(cfg, keep_loss=keep_loss, keep_weights=keep_weights)
    task = build_task(cfg)
    task.run_config = to_container(cfg)
    return task.eval()


def _load_weights(task: RestorationTask, state: dict, path: Path, model: str) -> None:
    """``task.load_state_dict(state, strict=True)``, failing in one line naming the keys."""
    own = task.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and state[k].shape != own[k].shape
    ]
    problems = [
        f"{label} {items[:3]}{' ...' if len(items) > 3 else ''}"
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes))
        if items
    ]
    if problems:
        raise ConfigError(f"the weights in {path} do not fit {model}: {'; '.join(problems)}")
    task.load_state_dict(state, strict=True)


def load_task(
    ckpt_path: str | Path,
    keep_loss: bool = False,
    map_location: str | torch.device = "cpu",
    cfg: DictConfig | None = None,
    what: str = "ckpt_path",
) -> RestorationTask:
    """The trained task of a checkpoint, in eval mode, with ``run_config`` set to its config.

    The task is built from the stored config by :func:`build_for_inference` (``keep_loss`` keeps
    the trained loss and loads its state). With ``cfg``, it is built from that config as given,
    loss included, instead (``restore.eval``: the stored groups merged with the command line's);
    the checkpoint then need not store a config. ``what`` names the file in errors.

    Raises:
        ConfigError: the file does not exist, is not a checkpoint, holds no stored config (not
            written by ``restore.train``) or its weights do not fit the model config.
    """
    path = Path(ckpt_path)
    ckpt = read_checkpoint(path, what, map_location)
    state = ckpt.get("state_dict")
    if not isinstance(state, dict):
        raise ConfigError(f"{what} {path} has no state_dict: not a Lightning checkpoint")
    if cfg is None:
        stored = checkpoint_config(ckpt)
        if stored is None:
            raise ConfigError(
                f"{what} {path} holds no restore config (not written by restore.train): its "
                "network cannot be rebuilt; use a checkpoint of restore.train, or restore.eval "
                "with the model config given on the command line"
            )
        task = build_for_inference(stored, keep_loss=keep_loss)
        if not keep_loss:
            state = {k: v for k, v in state.items() if not k.startswith("loss.")}
        _load_weights(task, state, path, "its stored model config")
    else:
        task = build_task(cfg)
        task.run_config = to_container(cfg)
        _load_weights(task, state, path, "the configured model")
    task.eval()
    log.info("loaded %s (%s)", path, (task.run_config.get("model") or {}).get("_target_", "?"))
    return task


def model_channels(task: RestorationTask) -> int:
    """Image channels the task restores (1 gray, 3 colour), from its stored config.

    ``data.channels`` first: a network may take more input channels than the image has
    (inpainting adds the mask).
    """
    cfg = task.run_config or {}
    model, data = cfg.get("model") or {}, cfg.get("data") or {}
    channels = data.get("channels", model.get("in_channels"))
    if channels is None:
        raise ConfigError("the checkpoint config names neither model.in_channels nor data.channels")
    return int(channels)
