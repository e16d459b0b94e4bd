"""Finding and reading the runs of Hydra run/multirun folders, failed and never-run jobs included.

A run folder holds ``.hydra/{config,hydra,overrides}.yaml`` (written as the job starts), the log
``<task_name>.log``, and, once it has tested, ``test_metrics.csv``, ``test_per_image.csv`` and
``checkpoints/``; a training run also ``csv/metrics.csv`` (the CSV logger's). A multirun folder
holds ``multirun.yaml`` and one run folder per job.
"""

from __future__ import annotations

import contextlib
import csv
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from restore.utils.errors import ConfigError

OK, FAILED, DIVERGED, NOT_RUN = "ok", "failed", "diverged", "not run"
FAILED_PREFIX = "job failed"  # restore.reporting.callbacks.JobLog's error line

# Hydra's default file log format: ``[%(asctime)s][%(name)s][%(levelname)s] - %(message)s``
LOG_LINE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]\[([^\]]*)\]\[([A-Z]+)\] - (.*)$"
)
# the last line of a printed traceback, e.g. ``ValueError: data.patch_size=...``
TRACEBACK_TAIL = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Interrupt)): .+")
# conf/logger/csv.yaml: save_dir the run folder, name ``csv``, no version folder
METRICS_CSV = Path("csv") / "metrics.csv"
VAL_PSNR, TRAIN_MIN = "val/psnr", "time/train_min"  # TrainClock logs the latter next to the former
TRAIN_LOSS = "train/loss"


@dataclass
class Run:
    """One job of a sweep (or one single run), as read from its folder."""

    path: Path
    name: str
    job: int | None = None
    overrides: list[str] = field(default_factory=list)
    choices: dict[str, str] = field(default_factory=dict)
    config: DictConfig | None = None  # .hydra/config.yaml, unresolved
    status: str = OK
    error: str | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)  # rows of test_metrics.csv
    per_image: list[dict[str, Any]] = field(default_factory=list)  # rows of test_per_image.csv
    checkpoint: Path | None = None
    train_time_s: float | None = None
    train_time_source: str | None = None
    label: str = ""
    # measured by restore.report on the rebuilt model
    params: int | None = None
    inference_ms: float | None = None
    inference_s_per_mp: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    def val_curve(self) -> list[tuple[float, float]]:
        """(training minutes, validation PSNR) of each validation in ``csv/metrics.csv``, by step.

        Rows of one step are merged (a key logged apart from the other still joins it); where a
        resumed run logged a step again, its later values win. Empty where no file or no point.
        """
        by_step: dict[float, dict[str, Any]] = {}
        for row in read_csv(self.path / METRICS_CSV):
            step = row.get("step")
            if not finite(step):
                continue
            merged = by_step.setdefault(step, {})
            merged.update({k: v for k, v in row.items() if finite(v)})
        return [
            (row[TRAIN_MIN], row[VAL_PSNR])
            for _, row in sorted(by_step.items())
            if TRAIN_MIN in row and VAL_PSNR in row
        ]

    def train_steps(self) -> int | None:
        """Optimizer steps the run made: the last step of a training row (``train/loss``) in
        ``csv/metrics.csv``, plus one. None for a run that did not train (an evaluation)."""
        steps = [
            row["step"]
            for row in read_csv(self.path / METRICS_CSV)
            if finite(row.get("step")) and finite(row.get(TRAIN_LOSS))
        ]
        return int(max(steps)) + 1 if steps else None

    # -- what the run was -----------------------------------------------------------------
    def value(self, key: str) -> Any:
        """A config value, resolved (``${data.channels}``); None where it cannot be."""
        if self.config is None:
            return None
        # None for an interpolation that needs Hydra's runtime (``${hydra:runtime.output_dir}``)
        return OmegaConf.select(self.config, key, default=None, throw_on_resolution_failure=False)

    @property
    def model(self) -> str:
        if "model" in self.choices:
            return str(self.choices["model"])
        target = self.value("model._target_")
        return str(target).rsplit(".", 1)[-1] if target else "?"

    @property
    def sigma(self) -> float | None:
        sigma = self.value("noise.sigma")
        try:
            return float(sigma) if sigma is not None else None
        except (TypeError, ValueError):
            return None

    @property
    def degradation(self) -> str:
        """The noise choice with its parameters, e.g. ``gaussian(sigma=25)``."""
        noise = self.value("noise")
        if not isinstance(noise, DictConfig):
            return "-"
        try:
            params = OmegaConf.to_container(noise, resolve=True)
        except Exception:
            params = OmegaConf.to_container(noise, resolve=False)
        name = self.choices.get("noise") or str(params.get("_target_", "?")).rsplit(".", 1)[-1]
        shown = [
            f"{k}={v}"
            for k, v in params.items()
            if k != "_target_" and v is not None and not (k == "clip" and v is False)
        ]
        return f"{name}({', '.join(shown)})" if shown else name


# -- files ------------------------------------------------------------------------------------
def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def read_csv(path: Path, numbers: bool = True) -> list[dict[str, Any]]:
    """The rows of a CSV file (none when it is absent), cells that parse as numbers as floats;
    ``numbers=False`` keeps every cell as the string it was written as."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not numbers:
        return rows
    for row in rows:
        for key, value in row.items():
            with contextlib.suppress(TypeError, ValueError):
                row[key] = float(value)
    return rows


def read_log(run_dir: Path) -> tuple[list[datetime], str | None]:
    """The log's timestamps and its last error: the last ERROR line, else a traceback's tail."""
    logs = sorted(run_dir.glob("*.log"), key=lambda p: (p.name != "train.log", p.name))
    if not logs:
        return [], None
    times: list[datetime] = []
    last_error = tail = None
    for line in logs[0].read_text(errors="replace").splitlines():
        match = LOG_LINE.match(line)
        if match:
            stamp, _, level, message = match.groups()
            times.append(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f"))
            if level in ("ERROR", "CRITICAL"):
                last_error = message.strip().removeprefix(f"{FAILED_PREFIX}: ")
        elif TRACEBACK_TAIL.match(line.strip()):
            tail = line.strip()
    return times, last_error or tail


def tested_checkpoint(ckpt_dir: Path) -> Path | None:
    """The checkpoint ``restore.train`` tested: the best one kept, else ``last.ckpt``."""
    if not ckpt_dir.is_dir():
        return None
    last = ckpt_dir / "last.ckpt"
    kept = sorted(p for p in ckpt_dir.glob("*.ckpt") if p.name != "last.ckpt")
    if len(kept) == 1:
        return kept[0]
    if len(kept) > 1 and last.is_file():
        from restore.inference.loading import read_checkpoint  # late: torch only when needed

        state = read_checkpoint(last).get("callbacks", {})
        for key, value in state.items():
            if key.startswith("ModelCheckpoint") and value.get("best_model_path"):
                best = ckpt_dir / Path(value["best_model_path"]).name  # the folder may have moved
                if best.is_file():
                    return best
    if kept:
        return max(kept, key=lambda p: p.stat().st_mtime)
    return last if last.is_file() else None


def train_time(run_dir: Path, times: list[datetime]) -> tuple[float | None, str | None]:
    """Seconds of fitting, and where they come from.

    ``files``: from ``.hydra/overrides.yaml`` (written as the job starts) to ``checkpoints/
    last.ckpt`` (written after the last epoch's validation): data loading and fitting, no testing.
    ``log``: first to last timestamp of the job's log (the whole job), when no last.ckpt is kept.
    """
    start, end = run_dir / ".hydra" / "overrides.yaml", run_dir / "checkpoints" / "last.ckpt"
    if start.is_file() and end.is_file():
        seconds = end.stat().st_mtime - start.stat().st_mtime
        if seconds > 0:
            return seconds, "files"
    if len(times) >= 2:
        return (times[-1] - times[0]).total_seconds(), "log"
    return None, None


def read_run(run_dir: Path, name: str) -> Run:
    hydra_dir = run_dir / ".hydra"
    run = Run(path=run_dir, name=name)
    run.config = OmegaConf.load(hydra_dir / "config.yaml")
    evaluated = run_dir / "evaluated.yaml"  # restore.eval: the groups a checkpoint brought
    if evaluated.is_file():
        run.config = OmegaConf.load(evaluated)
    if (hydra_dir / "overrides.yaml").is_file():
        run.overrides = [str(o) for o in OmegaConf.load(hydra_dir / "overrides.yaml")]
    if (hydra_dir / "hydra.yaml").is_file():
        hydra_cfg = OmegaConf.load(hydra_dir / "hydra.yaml")
        choices = OmegaConf.select(hydra_cfg, "hydra.runtime.choices", default=None)
        if choices is not None:
            taken = set(OmegaConf.select(run.config, "from_checkpoint", default=None) or [])
            run.choices = {
                str(k): str(v) for k, v in choices.items() if v is not None and k not in taken
            }
        num = OmegaConf.select(hydra_cfg, "hydra.job.num", default=None)
        run.job = int(num) if isinstance(num, int) else None
    times, error = read_log(run_dir)
    run.metrics = read_csv(run_dir / "test_metrics.csv")
    run.per_image = read_csv(run_dir / "test_per_image.csv")
    if not run.metrics:
        # restore.callbacks.faults: "TrainingDiverged: ..." in a sweep's job log, the message
        # itself in a single run's
        diverged = "TrainingDiverged" in (error or "") or "training diverged" in (error or "")
        run.status = DIVERGED if diverged else FAILED
        run.error = error or "no test_metrics.csv, and the log holds no error"
    run.checkpoint = tested_checkpoint(run_dir / "checkpoints")
    run.train_time_s, run.train_time_source = train_time(run_dir, times)
    return run


# -- sweeps -----------------------------------------------------------------------------------
def expected_jobs(sweep_dir: Path, runs: list[Run]) -> dict[int, list[str]] | None:
    """Job number -> overrides of every job a sweep was to launch, or None when unknown.

    The basic sweeper's jobs (``multirun.yaml``) are the product of the swept values, expanded as
    Hydra does; for other sweepers (Optuna, which writes no ``multirun.yaml``) only their count,
    ``hydra.sweeper.n_trials`` of a job's ``.hydra/hydra.yaml``, is known, with no overrides.
    """
    multirun = sweep_dir / "multirun.yaml"
    if multirun.is_file():
        cfg = OmegaConf.load(multirun)
    elif runs and (runs[0].path / ".hydra" / "hydra.yaml").is_file():
        cfg = OmegaConf.load(runs[0].path / ".hydra" / "hydra.yaml")
    else:
        return None
    sweeper = str(OmegaConf.select(cfg, "hydra.sweeper._target_", default="") or "")
    if sweeper.endswith("BasicSweeper") and multirun.is_file():
        try:
            from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
            from hydra.core.override_parser.overrides_parser import OverridesParser

            params = OmegaConf.select(cfg, "hydra.sweeper.params", default=None) or {}
            given = [f"{k}={v}" for k, v in params.items()]
            given += list(OmegaConf.select(cfg, "hydra.overrides.task", default=None) or [])
            parsed = OverridesParser.create().parse_overrides(given)
            batches = BasicSweeper.split_arguments(parsed, None)
        except Exception:  # Hydra internals, or an override Hydra itself refused
            return None
        jobs = [list(job) for batch in batches for job in batch]
        return dict(enumerate(jobs))
    n_trials = OmegaConf.select(cfg, "hydra.sweeper.n_trials", default=None)
    if isinstance(n_trials, int):
        return {i: [] for i in range(n_trials)}
    return None


def is_sweep(folder: Path) -> bool:
    """A multirun folder: Hydra's basic sweeper writes multirun.yaml, Optuna its results."""
    return (folder / "multirun.yaml").is_file() or (folder / "optimization_results.yaml").is_file()


def collect_runs(dirs: list[Path]) -> tuple[list[Run], list[Path]]:
    """Every run below ``dirs`` (plus ``not run`` entries for jobs a sweep never launched).

    Returns the runs and the multirun folders among ``dirs``.
    """
    runs: list[Run] = []
    sweeps: list[Path] = []
    seen: set[Path] = set()
    for top in dirs:
        top = Path(top)
        if not top.is_dir():
            raise ConfigError(f"{top} is not a folder: give run or multirun output folders")
        found = sorted({p.parent.parent for p in top.rglob(".hydra/config.yaml")}, key=_natural_key)
        if not found:
            raise ConfigError(f"{top} holds no run (no .hydra/config.yaml below it)")
        here: list[Run] = []
        for run_dir in found:
            if run_dir.resolve() in seen:
                continue
            seen.add(run_dir.resolve())
            rel = run_dir.relative_to(top) if run_dir != top else Path(top.name)
            # a run given by its own folder is named by it, also next to other folders
            name = str(rel) if len(dirs) == 1 or run_dir == top else str(Path(top.name) / rel)
            here.append(read_run(run_dir, name))
        if is_sweep(top):
            sweeps.append(top)
            jobs = [r for r in here if r.path.parent == top]
            expected = expected_jobs(top, jobs)
            done = {r.job for r in jobs}
            for job, overrides in (expected or {}).items():
                if job not in done:
                    name = str(job) if len(dirs) == 1 else f"{top.name}/{job}"
                    here.append(
                        Run(
                            path=top / str(job),
                            name=name,
                            job=job,
                            overrides=overrides,
                            status=NOT_RUN,
                            error="no job folder: the sweep stopped before launching it",
                        )
                    )
            here.sort(key=lambda r: (r.job is None, r.job if r.job is not None else 0, r.name))
        runs.extend(here)
    assign_labels(runs)
    return runs, sweeps


def _key(override: str) -> str:
    return override.split("=", 1)[0]


def varying_keys(runs: list[Run]) -> list[str]:
    """Override keys whose value differs between runs (in first-seen order)."""
    runs = [r for r in runs if r.overrides]  # an Optuna trial never launched has none known
    keys: list[str] = []
    for run in runs:
        keys += [_key(o) for o in run.overrides if _key(o) not in keys]
    values = [{_key(o): o for o in run.overrides} for run in runs]
    return [k for k in keys if len({v.get(k) for v in values}) > 1]


def common_overrides(runs: list[Run]) -> list[str]:
    varying = set(varying_keys(runs))
    first = next((r.overrides for r in runs if r.overrides), [])
    return [o for o in first if _key(o) not in varying]


def _short(override: str) -> str:
    """``optimizer.lr=0.0015527066247393432`` -> ``optimizer.lr=0.001553`` (labels only)."""
    key, sep, value = override.partition("=")
    if sep and re.fullmatch(r"-?\d+\.\d{5,}(e-?\d+)?", value):
        return f"{key}={float(value):.4g}"
    return override


def assign_labels(runs: list[Run]) -> None:
    """Label each run by the overrides that tell it apart (all of them for a lone run)."""
    varying = varying_keys(runs)
    for run in runs:
        if len(runs) == 1:
            run.label = " ".join(_short(o) for o in run.overrides) or "defaults"
        else:
            shown = [_short(o) for o in run.overrides if _key(o) in varying]
            run.label = " ".join(shown) or run.name


def finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)
