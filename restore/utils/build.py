"""Building the run's objects from a composed config (shared by train, eval and tools)."""

from __future__ import annotations

from typing import Any

import hydra
import lightning as L
from lightning.pytorch import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

from restore.tasks import RestorationTask


def instantiate_dict(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a mapping (callbacks, loggers)."""
    if not cfg:
        return []
    return [hydra.utils.instantiate(c) for c in cfg.values() if c is not None and "_target_" in c]


def build_task(cfg: DictConfig) -> RestorationTask:
    """The task LightningModule with its network, loss, degradation, optimizer and scheduler."""
    scheduler = cfg.get("scheduler")
    return hydra.utils.instantiate(
        cfg.task,
        net=hydra.utils.instantiate(cfg.model),
        loss=hydra.utils.instantiate(cfg.loss),
        degradation=hydra.utils.instantiate(cfg.noise) if cfg.get("noise") else None,
        optimizer=hydra.utils.instantiate(cfg.optimizer) if cfg.get("optimizer") else None,
        scheduler=hydra.utils.instantiate(scheduler) if scheduler else None,
        _convert_="partial",
    )


def build_trainer(cfg: DictConfig) -> tuple[L.Trainer, list[Callback], list[Logger]]:
    callbacks: list[Callback] = instantiate_dict(cfg.get("callbacks"))
    loggers: list[Logger] = instantiate_dict(cfg.get("logger"))
    trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, _convert_="partial"
    )
    return trainer, callbacks, loggers
