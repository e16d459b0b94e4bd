"""Building the run's objects from a composed config (shared by train, eval and tools)."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import ModelSummary, ProgressBar, TQDMProgressBar
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from restore.tasks import RestorationTask
from restore.utils.errors import ConfigError


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


def display_callbacks(
    trainer_cfg: DictConfig | dict, callbacks: list[Callback]
) -> tuple[list[Callback], dict[str, Any]]:
    """The progress bar and model summary, chosen here rather than by what happens to be
    importable: Lightning picks its Rich versions whenever ``rich`` is installed (it arrives
    through a plugin's dependencies), so ours are tqdm's bar (tqdm is the project's dependency)
    and the plain summary, unless the callbacks config gives its own or the trainer turns them
    off. Returns the callbacks to add and the Trainer arguments that go with them."""
    extra: list[Callback] = []
    kwargs: dict[str, Any] = {}
    if trainer_cfg.get("enable_progress_bar", True) is not False and not any(
        isinstance(c, ProgressBar) for c in callbacks
    ):
        extra.append(TQDMProgressBar())
    if trainer_cfg.get("enable_model_summary", True) is not False:
        if not any(isinstance(c, ModelSummary) for c in callbacks):
            extra.append(ModelSummary())
        kwargs["enable_model_summary"] = False  # Lightning would add its own beside ours
    return extra, kwargs


def build_trainer(cfg: DictConfig) -> tuple[L.Trainer, list[Callback], list[Logger]]:
    """The Trainer of ``cfg.trainer`` with the configured callbacks and loggers (and the progress
    bar and summary of :func:`display_callbacks`); returns it, the callbacks and the loggers."""
    callbacks: list[Callback] = instantiate_dict(cfg.get("callbacks"))
    extra, kwargs = display_callbacks(cfg.trainer, callbacks)
    callbacks += extra
    loggers: list[Logger] = instantiate_dict(cfg.get("logger"))
    trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, _convert_="partial", **kwargs
    )
    return trainer, callbacks, loggers


def chosen_test_sets(value: Any) -> dict[str, str]:
    """The top-level ``test_sets`` as name -> folder: a mapping as given, one folder (named by its
    last part) or a list of folders; ``~`` expanded."""
    if isinstance(value, DictConfig | dict):
        items = dict(value.items())
    elif isinstance(value, str):
        items = {Path(value).expanduser().name or value: value}
    elif isinstance(value, ListConfig | list | tuple):
        items = {Path(str(v)).expanduser().name: v for v in value}
    else:
        raise ConfigError(
            f"test_sets must be name -> folder, e.g. test_sets='{{Kodak24: /data/Kodak24}}', "
            f"or one folder; got {value!r}"
        )
    if not items:
        raise ConfigError("test_sets is empty: give name -> folder, or drop it")
    out = {}
    for name, folder in items.items():
        if not isinstance(folder, str | Path) or not str(folder):
            raise ConfigError(f"test_sets.{name} must be a folder, got {folder!r}")
        out[str(name)] = str(Path(str(folder)).expanduser())
    return out


def apply_test_sets(cfg: DictConfig, only: bool = False) -> None:
    """Put the top-level ``test_sets`` (when given) in place of ``data.test_sets``, whatever the
    data config or preset listed there; with ``only`` (evaluation) the data layout's own test
    split is dropped too, so that exactly these folders are scored."""
    value = cfg.get("test_sets")
    if value is None:
        return
    sets = chosen_test_sets(value)
    with open_dict(cfg):
        cfg.data.test_sets = OmegaConf.create(sets)
        if only:
            cfg.data.layout = None


def check_training_config(cfg: DictConfig) -> None:
    """Refuse, before anything starts, what would fail minutes into a run: a non-numeric or
    negative learning rate, a resume checkpoint that is missing or truncated."""
    optimizer = cfg.get("optimizer") or {}
    for key in ("lr", "weight_decay", "momentum"):  # lr=0 is legitimate: frozen weights
        if key not in optimizer:
            continue
        value = optimizer[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ConfigError(f"optimizer.{key} must be a number, got {value!r}")
        if value < 0:
            raise ConfigError(f"optimizer.{key} must be >= 0, got {value}")
    ckpt = cfg.get("ckpt_path")
    if ckpt in (None, "last", "best", "hpc", "registry"):  # Lightning's own names
        return
    path = Path(str(ckpt))
    beside = (
        sorted(p.name for p in path.parent.glob("*.ckpt") if p != path)
        if path.parent.is_dir()
        else []
    )
    hint = f"; checkpoints beside it: {', '.join(beside)}" if beside else ""
    if not path.is_file():
        raise ConfigError(f"ckpt_path {path} does not exist{hint}")
    # torch checkpoints are zip archives: a truncated one (a kill mid-copy) fails its directory
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError):
        bad = "its zip directory"
    if bad is not None:
        raise ConfigError(
            f"ckpt_path {path} is damaged or not a checkpoint (truncated? {bad} does not read): "
            f"resume from another one{hint}"
        )
    # what Lightning would refuse with two tracebacks: a pickle that holds code, not only tensors
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+?)(?: |$)", str(err))
        detail = f"it names {found.group(1)}" if found else "it holds more than tensors"
        raise ConfigError(
            f"ckpt_path {path} is not a plain checkpoint ({detail}): refused, since loading it "
            f"could run its code; resume from a checkpoint this platform wrote{hint}"
        ) from None
