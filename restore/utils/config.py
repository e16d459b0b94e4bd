"""Hydra/OmegaConf plumbing: resolvers, the project root, and the key of configs in checkpoints."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def _locate() -> tuple[Path, Path]:
    """(project root, config dir): a checkout's ``<repo>/conf``, else the installed package's.

    In a checkout (editable install included) the configs are the repository's top-level
    ``conf/`` and the root is the repository. An installed wheel carries them as
    ``restore/conf`` (pyproject.toml, ``[tool.hatch.build.targets.wheel]``), and the root is the
    working directory at start-up: runs go to ``./outputs`` there.
    """
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent
    if (checkout / "conf" / "train.yaml").is_file() and (checkout / "pyproject.toml").is_file():
        return checkout, checkout / "conf"
    if (package / "conf" / "train.yaml").is_file():
        return Path.cwd().resolve(), package / "conf"
    raise RuntimeError(
        f"restore's configs are missing: neither {checkout / 'conf'} nor {package / 'conf'}"
    )


PROJECT_ROOT, CONFIG_DIR = _locate()

# The key under which ``RestorationTask.on_save_checkpoint`` stores the resolved run config in a
# checkpoint; every reader (``restore.inference.loading``) looks it up by this name.
CHECKPOINT_CONFIG_KEY = "restore_config"


def _fraction_of(total: int, fraction: float) -> int:
    return max(1, round(int(total) * float(fraction)))


def _run_id(output_dir: str) -> str:
    return hashlib.sha1(str(Path(output_dir).resolve()).encode()).hexdigest()[:12]


def _run_folder() -> str:
    """A run's folder below ``<log dir>/<task>/``: ``slurm/<job id>`` in a process that srun
    started (every rank of one DDP job, and the job again after a requeue, get the same folder;
    the n-th later srun step of the allocation ``slurm/<job id>.<n>``), else the date and the
    time to the microsecond (two runs started in the same second get two folders; so do two
    runs of one batch script outside srun).

    >>> import os; os.environ.pop("SLURM_STEP_ID", None) and None
    >>> len(_run_folder().split("/")) == 2
    True
    """
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID")
    step = os.environ.get("SLURM_STEP_ID", "")
    if job and step.isdigit():
        task = os.environ.get("SLURM_ARRAY_TASK_ID")
        name = f"{job}_{task}" if os.environ.get("SLURM_ARRAY_JOB_ID") and task else job
        return f"slurm/{name}" + (f".{step}" if step != "0" else "")
    return datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")


def register_resolvers() -> None:
    """Resolvers used in conf/ (idempotent); sets PROJECT_ROOT for ``paths.root_dir``."""
    os.environ.setdefault("PROJECT_ROOT", str(PROJECT_ROOT))
    if not OmegaConf.has_resolver("fraction_of"):
        OmegaConf.register_new_resolver("fraction_of", _fraction_of)
    if not OmegaConf.has_resolver("add"):  # e.g. in_channels: ${add:${data.channels},1}
        OmegaConf.register_new_resolver("add", lambda *values: sum(values))
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", _run_id)
    if not OmegaConf.has_resolver("run_folder"):  # cached: one value per config, like ${now:}
        OmegaConf.register_new_resolver("run_folder", _run_folder, use_cache=True)


def to_container(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain data (what checkpoints store)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)


register_resolvers()
