"""Rebuilding a run's model from its checkpoint: parameter count and CPU inference time."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from restore.tasks import RestorationTask
from restore.utils.build import build_task
from restore.utils.errors import ConfigError


def load_task(ckpt_path: Path) -> tuple[RestorationTask, DictConfig]:
    """The task built from the config stored in the checkpoint, with its trained weights, in eval.

    Only what inference needs is built: the loss is replaced by a plain MSE (a perceptual loss
    would fetch VGG weights), the optimizer and scheduler are left out, and ``model.weights``
    (released weights to start from) is dropped since the checkpoint's weights replace them.
    """
    # weights_only: a checkpoint is data; loading it must not run code.
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    stored = ckpt.get("restore_config")
    if stored is None:
        raise ConfigError(f"{ckpt_path} holds no restore_config: it was not written by restore")
    cfg = OmegaConf.create(stored)
    task = build_for_inference(cfg)
    missing, _ = task.load_state_dict(ckpt["state_dict"], strict=False)
    missing = [k for k in missing if k.startswith("net.")]
    if missing:
        raise ConfigError(
            f"{ckpt_path}: the rebuilt model has weights the checkpoint lacks: {missing[:5]}"
        )
    return task.eval(), cfg


def build_for_inference(cfg: DictConfig, keep_weights: bool = False) -> RestorationTask:
    """The task of a run config, with only what inference needs (see :func:`load_task`);
    ``keep_weights`` keeps ``model.weights`` (a run that scored released weights)."""
    build_cfg = cfg.copy()
    with open_dict(build_cfg):
        build_cfg.loss = {"_target_": "torch.nn.MSELoss"}
        build_cfg.optimizer = None
        build_cfg.scheduler = None
        if "weights" in build_cfg.model and not keep_weights:
            build_cfg.model.weights = None
    return build_task(build_cfg).eval()


def run_task(checkpoint: Path | None, config: DictConfig) -> tuple[RestorationTask, DictConfig]:
    """The model a run scored: its tested checkpoint, the checkpoint an evaluation run was given
    (``ckpt_path``), or, for an evaluation without one (released weights, Deep Image Prior,
    bicubic), the model its config builds."""
    if checkpoint is not None:
        return load_task(checkpoint)
    ckpt = OmegaConf.select(config, "ckpt_path", default=None)
    if ckpt:
        return load_task(Path(ckpt))
    return build_for_inference(config, keep_weights=True), config


def fits_each_image(task: RestorationTask) -> bool:
    """Whether the method fits each observation anew (Deep Image Prior): no forward pass to time."""
    return bool(getattr(task.net, "fits_observation", False))


def count_parameters(task: RestorationTask, channels: int = 1) -> int:
    """Parameters of the network alone (not the loss's, nor buffers such as BatchNorm's stats);
    for a method that fits a fresh network to each image, that network's."""
    if hasattr(task.net, "parameter_count"):
        return int(task.net.parameter_count(channels))
    return sum(p.numel() for p in task.net.parameters())


@torch.inference_mode()
def time_inference(task: RestorationTask, channels: int, size: int = 256, runs: int = 5) -> float:
    """Median milliseconds of ``task.restore`` on one ``channels x size x size`` input, float32 CPU.

    One warm-up pass first (allocator, oneDNN kernel selection); timed with ``perf_counter``.
    """
    task = task.float().cpu()
    x = torch.rand(1, channels, size, size)
    if task.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    task.restore(x)
    times = []
    for _ in range(max(1, runs)):
        start = time.perf_counter()
        task.restore(x)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)
