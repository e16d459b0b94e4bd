"""Hydra launchers (joblib, submitit) and the Optuna sweeper, on tiny multiruns of restore.train.

The basic launcher (the default) runs the multirun of tests/test_report.py.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import hydra
import optuna
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra_plugins.hydra_optuna_sweeper._impl import create_optuna_distribution_from_override
from omegaconf import DictConfig, OmegaConf

from restore.report import make_report
from restore.utils.config import CONFIG_DIR

from .test_report import JOB_LOG, fast, rows_of
from .test_train import run_cli

TINY = [*fast(), "trainer.max_epochs=1", "data.patches_per_epoch=16", JOB_LOG]


def compose_with_hydra(overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


def jobs_of(sweep_dir: Path) -> list[Path]:
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit())


def job_span(job: Path) -> tuple[int, datetime, datetime]:
    """(process id, start, end) from the JobLog lines of a job's log."""
    text = (job / "train.log").read_text()
    line = r"^\[([\d\- :,]+)\]\[restore\.job\]\[INFO\] - job (?:started|finished)"
    stamps = re.findall(line, text, re.M)
    pid = re.search(r"job started \(job \d+, process (\d+)\)", text)
    assert len(stamps) == 2 and pid, text[-2000:]
    start, end = (datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f") for s in stamps)
    return int(pid.group(1)), start, end


# -- configs ----------------------------------------------------------------------------------
def test_parallel_launcher_config_runs_two_joblib_workers():
    cfg = compose_with_hydra(["hydra/launcher=parallel"])
    assert cfg.hydra.launcher.n_jobs == 2
    assert cfg.hydra.launcher.prefer == "processes"
    launcher = hydra.utils.instantiate(cfg.hydra.launcher)
    assert type(launcher).__name__ == "JoblibLauncher"


def test_slurm_launcher_config_composes_and_builds():
    cfg = compose_with_hydra(["hydra/launcher=slurm", "hydra.launcher.partition=gpu"])
    launcher_cfg = cfg.hydra.launcher
    assert launcher_cfg._target_.endswith("SlurmLauncher")
    assert (launcher_cfg.gpus_per_node, launcher_cfg.tasks_per_node) == (1, 1)
    assert launcher_cfg.partition == "gpu" and launcher_cfg.timeout_min == 720
    assert OmegaConf.to_container(launcher_cfg, resolve=False)["submitit_folder"].endswith(
        ".submitit/%j"
    )
    launcher = hydra.utils.instantiate(launcher_cfg)  # builds without a cluster
    assert type(launcher).__name__ == "SlurmLauncher"
    assert launcher.params["gpus_per_node"] == 1


def test_optuna_search_space_is_log_lr_and_choices():
    cfg = compose_with_hydra(["hparams_search=dncnn_optuna"])
    assert cfg.hydra.mode.name == "MULTIRUN"
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.direction == "maximize" and cfg.optimized_metric == "val/psnr"
    assert sweeper.sampler.seed == cfg.seed
    parser = OverridesParser.create()
    space = {
        key: create_optuna_distribution_from_override(parser.parse_override(f"{key}={value}"))
        for key, value in sweeper.params.items()
    }
    lr = space["optimizer.lr"]
    assert (lr.low, lr.high) == (1e-4, 1e-2)
    assert getattr(lr, "log", False) or isinstance(lr, optuna.distributions.LogUniformDistribution)
    assert list(space["model.width"].choices) == [32, 48, 64]
    assert list(space["data.batch_size"].choices) == [16, 32, 64]
    assert cfg.hydra.callbacks.job_log._target_ == "restore.reporting.callbacks.JobLog"


# -- multiruns --------------------------------------------------------------------------------
@pytest.mark.slow
def test_joblib_runs_two_jobs_at_once(tmp_path):
    result = run_cli(
        "restore.train",
        "-m",
        "hydra/launcher=parallel",
        *TINY,
        "model.width=8,16",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    jobs = jobs_of(tmp_path)
    assert [j.name for j in jobs] == ["0", "1"]
    for job in jobs:
        assert (job / "test_metrics.csv").is_file()
        assert (job / "checkpoints" / "last.ckpt").is_file()
    (pid0, start0, end0), (pid1, start1, end1) = (job_span(j) for j in jobs)
    # two worker processes ran the jobs. Whether their spans overlap depends on how fast the
    # second worker starts (it did not on a loaded CI machine), so only the order is checked.
    assert pid0 != pid1
    assert start0 < end0 and start1 < end1


@pytest.mark.slow
def test_submitit_local_launcher_runs_jobs(tmp_path):
    result = run_cli(
        "restore.train",
        "-m",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        *TINY,
        "model.width=8,16",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = jobs_of(tmp_path)
    assert len(jobs) == 2
    for job in jobs:
        rows = rows_of(job / "test_metrics.csv")
        assert rows[0]["set"] == "embedded" and float(rows[0]["psnr"]) > 0
    submitted = [p for p in (tmp_path / ".submitit").iterdir() if list(p.glob("*_result.pkl"))]
    assert len(submitted) == 2  # one submitit job per Hydra job, each with its result


@pytest.mark.slow
def test_optuna_sweeper_maximises_val_psnr(tmp_path):
    result = run_cli(
        "restore.train",
        "hparams_search=dncnn_optuna",  # a multirun by itself (hydra.mode=MULTIRUN)
        *[o for o in TINY if not o.startswith(("model.width", "data.batch_size"))],
        "hydra.sweeper.n_trials=2",
        "model.width=choice(8,16)",  # command-line search spaces replace the config's
        "data.batch_size=choice(4,8)",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = jobs_of(tmp_path)
    assert len(jobs) == 2
    best = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert set(best.best_params) == {"optimizer.lr", "model.width", "data.batch_size"}
    assert 1e-4 <= best.best_params["optimizer.lr"] <= 1e-2
    assert best.best_params["model.width"] in (8, 16)
    # each trial's value is its last validation PSNR; the best is their maximum
    values = []
    for job in jobs:
        rows = rows_of(job / "csv" / "metrics.csv")
        values.append([float(r["val/psnr"]) for r in rows if r.get("val/psnr")][-1])
        assert (job / "test_metrics.csv").is_file()
    assert best.best_value == pytest.approx(max(values), abs=1e-4)

    report = make_report([tmp_path], timing=False, grid=False)
    assert [r.status for r in report.runs] == ["ok", "ok"]
    assert all("optimizer.lr=" in r.label for r in report.runs)
    md = (tmp_path / "report.md").read_text()
    assert f"best value: {best.best_value:.4f}" in md
