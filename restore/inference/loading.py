"""Rebuilding a trained model from a ``restore.train`` checkpoint alone.

The checkpoint stores the resolved run config (``restore_config``): the task is rebuilt from it
with ``build_task`` and the trained weights are loaded with ``torch.load(weights_only=True)``, so a
checkpoint is read as data and cannot run code.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import torch
from omegaconf import DictConfig, open_dict

from restore.tasks import RestorationTask
from restore.utils.build import build_task
from restore.utils.config import load_checkpoint_config, to_container
from restore.utils.errors import ConfigError

log = logging.getLogger(__name__)

# Inference needs no loss; rebuilding the trained one could need pretrained feature-network
# weights (perceptual losses) that a user's machine lacks. Its state (frozen features) is skipped.
_INFERENCE_LOSS = {
    "_target_": "restore.losses.LossSum",
    "terms": {"mse": {"_target_": "restore.losses.MSELoss"}},
}


def inference_config(cfg: DictConfig, keep_loss: bool = False) -> DictConfig:
    """The stored config made buildable anywhere: no initial-weights file, no loss by default."""
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        if cfg.get("model") is not None and cfg.model.get("weights") is not None:
            cfg.model.weights = None  # the checkpoint's weights replace them; the file may be gone
        if not keep_loss:
            cfg.loss = _INFERENCE_LOSS
    return cfg


def load_task(
    ckpt_path: str | Path, keep_loss: bool = False, map_location: str | torch.device = "cpu"
) -> RestorationTask:
    """The trained task of a checkpoint, in eval mode, with ``run_config`` set to its config.

    Raises:
        ConfigError: the file does not exist, is not a checkpoint, holds no stored config (not
            written by ``restore.train``) or its weights do not fit the stored model config.
    """
    path = Path(ckpt_path)
    stored = load_checkpoint_config(path)
    if stored is None:
        raise ConfigError(
            f"ckpt_path {path} holds no restore config (not written by restore.train): "
            "its network cannot be rebuilt; train with restore.train or use restore.eval with "
            "the model config given on the command line"
        )
    cfg = inference_config(stored, keep_loss=keep_loss)
    task = build_task(cfg)
    try:  # mmap: the config read above loaded the file once already; map the tensors lazily
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=True)
    except RuntimeError:  # files in torch's legacy (non-zip) format cannot be mapped
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    state = ckpt.get("state_dict")
    if state is None:
        raise ConfigError(f"ckpt_path {path} has no state_dict: not a Lightning checkpoint")
    if not keep_loss:
        state = {k: v for k, v in state.items() if not k.startswith("loss.")}
    try:
        task.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ConfigError(
            f"the weights in {path} do not fit its stored model config: {err}"
        ) from None
    task.run_config = to_container(cfg)
    task.eval()
    log.info("loaded %s (%s)", path, cfg.model.get("_target_", "?"))
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
