"""Hydra/OmegaConf plumbing: resolvers, the project root, and the key of configs in checkpoints."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "conf"

# The key under which ``RestorationTask.on_save_checkpoint`` stores the resolved run config in a
# checkpoint; every reader (``restore.inference.loading``) looks it up by this name.
CHECKPOINT_CONFIG_KEY = "restore_config"


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


register_resolvers()
