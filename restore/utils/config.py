"""Hydra/OmegaConf plumbing: resolvers, the project root, and configs stored in checkpoints."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from restore.utils.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "conf"


def _fraction_of(total: int, fraction: float) -> int:
    return max(1, round(int(total) * float(fraction)))


def _run_id(output_dir: str) -> str:
    return hashlib.sha1(str(Path(output_dir).resolve()).encode()).hexdigest()[:12]


def register_resolvers() -> None:
    """Resolvers used in conf/ (idempotent); sets PROJECT_ROOT for ``paths.root_dir``."""
    os.environ.setdefault("PROJECT_ROOT", str(PROJECT_ROOT))
    if not OmegaConf.has_resolver("fraction_of"):
        OmegaConf.register_new_resolver("fraction_of", _fraction_of)
    if not OmegaConf.has_resolver("add"):  # e.g. in_channels: ${add:${data.channels},1}
        OmegaConf.register_new_resolver("add", lambda *values: sum(values))
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", _run_id)


def to_container(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain data (what checkpoints store)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)


def load_checkpoint_config(ckpt_path: str | Path) -> DictConfig | None:
    """The resolved config a training run stored in its checkpoint, or None for a bare one."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigError(f"ckpt_path {path} does not exist: give the path of a .ckpt file")
    try:
        # weights_only: a checkpoint is data; it must not run code when loaded.
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ConfigError(f"ckpt_path {path} is not a readable checkpoint: {err}") from None
    stored = ckpt.get("restore_config")
    return OmegaConf.create(stored) if stored is not None else None


register_resolvers()
