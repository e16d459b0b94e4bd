"""Logger factories that need logic beyond a YAML."""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from lightning.pytorch.loggers import WandbLogger


def wandb_credentials_present() -> bool:
    """True when an API key is set or `wandb login` stored one in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def _sweep_group() -> str | None:
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return None
    return Path(hc.sweep.dir).name if hc.mode == RunMode.MULTIRUN else None


def wandb_logger(
    project: str,
    save_dir: str,
    id: str | None = None,
    group: str | None = None,
    offline: bool | None = None,
    **kwargs,
) -> WandbLogger:
    """A WandbLogger that works with no account: offline unless credentials exist.

    ``id`` is stable for a run directory, and ``resume="allow"`` continues that W&B run when the
    training run resumes; the runs of one Hydra multirun share a ``group``.
    """
    if offline is None:
        offline = os.environ.get("WANDB_MODE") == "offline" or not wandb_credentials_present()
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    return WandbLogger(
        project=project,
        save_dir=save_dir,
        id=id,
        group=group or _sweep_group(),
        offline=offline,
        resume="allow",
        **kwargs,
    )
