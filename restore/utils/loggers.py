"""Logger factories that need logic beyond a YAML."""

from __future__ import annotations

import csv
import netrc
import os
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


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


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; this one appends to it.

    The file's header is re-read before each save, since another process (a resumed run, or the
    fit and test stages of ``ddp_spawn``) may have written columns this writer has not seen.
    """

    def _check_log_dir_exists(self) -> None:
        pass  # keep metrics.csv

    def save(self) -> None:
        if self.metrics and self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                header = next(csv.reader(f), [])
            self.metrics_keys = sorted(set(self.metrics_keys) | set(header))
        super().save()


class CSVLogger(LightningCSVLogger):
    """A CSVLogger whose metrics.csv survives a resumed run: new rows are appended to it."""

    def drop_rows_from(self, step: int) -> int:
        """Remove the rows of ``step`` and later from metrics.csv; returns how many went.

        A run killed after its last checkpoint logged steps that the resumed run makes again:
        without this they would appear twice (called by ``callbacks.resumed_logs`` on resume).
        """
        path = Path(self.log_dir) / ExperimentWriter.NAME_METRICS_FILE
        if not path.is_file():
            return 0
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames or [], list(reader)
        kept = [r for r in rows if not (r.get("step") or "").isdigit() or int(r["step"]) < step]
        if len(kept) == len(rows):
            return 0
        tmp = path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)
        os.replace(tmp, path)  # atomic: a kill now leaves the old or the new file, never half
        return len(rows) - len(kept)

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
