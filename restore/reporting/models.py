"""Rebuilding a run's model from its checkpoint: parameter count and CPU inference time."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from restore.data.batch import Batch
from restore.inference import loading
from restore.inference.loading import build_for_inference
from restore.tasks import RestorationTask
from restore.utils.timing import median_seconds


def load_task(ckpt_path: Path) -> tuple[RestorationTask, DictConfig]:
    """The task of a checkpoint with its trained weights, in eval mode (the platform's one loader,
    :func:`restore.inference.loading.load_task`), and the config it was built from."""
    task = loading.load_task(ckpt_path)
    return task, OmegaConf.create(task.run_config)


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
    """Median milliseconds of restoring one ``channels x size x size`` image as it is scored.

    The image is observed by the task first (its noise, mask or ``size / scale`` downscale; the
    batch's own input where the task has no degradation), then only :meth:`restore_batch` is
    timed: the network with what the task adds around it (the mask channel of inpainting, the
    pass-through of known pixels). One warm-up pass first (allocator, oneDNN kernel selection);
    float32 on the CPU, timed with ``perf_counter`` (:func:`restore.utils.timing.median_seconds`).
    """
    task = task.float().cpu()
    x = torch.rand(1, channels, size, size)
    seed = torch.zeros(1, dtype=torch.long)
    given = x if task.degradation is None else None
    batch = task.observe(Batch(target=x, input=given, seed=seed), training=False)
    return 1000 * median_seconds(lambda: task.restore_batch(batch), runs=max(1, runs), warmup=1)
