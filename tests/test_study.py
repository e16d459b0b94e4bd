"""experiments/study/run.py: every job of the study composes, finished jobs are skipped, a rerun
keeps the times of the jobs it skipped."""

from __future__ import annotations

import csv
import importlib.util
import shutil
import subprocess
import sys
import types

import pytest

from restore.utils.config import PROJECT_ROOT

from .conftest import compose_config

spec = importlib.util.spec_from_file_location("study", PROJECT_ROOT / "experiments/study/run.py")
study = importlib.util.module_from_spec(spec)
sys.modules["study"] = study  # dataclasses look their module up there
spec.loader.exec_module(study)


def _plan(*argv: str):
    return study.plan(study.parse(list(argv)))


def test_the_plan_has_every_method_of_every_part():
    jobs = _plan()
    names = {j.key for j in jobs}
    for noise in study.NOISES:
        for model in study.MODELS:
            assert f"denoise/{model}_{noise}" in names and f"crops/{model}_{noise}" in names
        assert {f"denoise/bm3d_{noise}", f"crops/bm3d_{noise}", f"crops/dip_{noise}"} <= names
    assert {"denoise/released_gaussian25", "sr/dip_x4_crops", "inpaint/dip_segnet_crops"} <= names
    # the median filter is the reference for impulse noise only
    assert {j for j in names if "median" in j} == {
        "denoise/median_salt_pepper",
        "crops/median_salt_pepper",
    }
    # sigma 25 runs first: a partial study has one whole column
    assert jobs[0].key == "denoise/dncnn_gaussian25"
    # checkpoints are scored after the run that trains them
    order = [j.key for j in jobs]
    for job in jobs:
        for need in job.needs:
            assert order.index(need) < order.index(job.key)


@pytest.mark.parametrize("job", _plan(), ids=lambda j: j.key)
def test_every_job_composes(job, tmp_path):
    overrides = [o for o in job.overrides if not o.startswith("ckpt_path=")]
    name = job.module.split(".")[-1]
    cfg = compose_config(name, overrides, tmp_path)
    if job.module == "restore.train":
        assert cfg.callbacks.time_budget.minutes == 2  # the one budget of every trained model
        assert cfg.trainer.precision == "bf16-mixed"


def test_finished_jobs_are_skipped_and_keep_their_time(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(study, "HERE", tmp_path)
    args = study.parse(["--parts", "denoise", "--noises", "gaussian25", "--models", "unet"])
    args.root = tmp_path / "runs"
    jobs = study.plan(args)
    for job in jobs:  # as if every job had run
        (study.run_dir(args, job)).mkdir(parents=True)
        (study.run_dir(args, job) / "test_metrics.csv").write_text("set,psnr\n")
    earlier = [{"job": jobs[0].key, "status": "ok", "seconds": "157", "command": "x"}]
    study.write_jobs_csv(earlier, tmp_path / "jobs.csv")
    records = study.run_jobs(args, jobs)
    assert [r["status"] for r in records] == ["done"] * len(jobs)
    study.write_jobs_csv(records, tmp_path / "jobs.csv")
    with open(tmp_path / "jobs.csv") as f:
        rows = {r["job"]: r for r in csv.DictReader(f)}
    assert rows[jobs[0].key]["seconds"] == "157"
    assert len(rows) == len(jobs)


def test_unknown_names_are_one_line_errors(capsys):
    with pytest.raises(SystemExit):
        study.parse(["--models", "unet,resnet50"])
    assert "--models: unknown resnet50" in capsys.readouterr().err


def test_each_finished_job_is_recorded_at_once(tmp_path, monkeypatch):
    # a runner stopped mid-way keeps the times of the jobs it finished
    args = study.parse(["--parts", "denoise", "--noises", "gaussian25", "--models", "unet,vae"])
    args.root = tmp_path / "runs"
    jobs = study.plan(args)[:2]
    table = tmp_path / "jobs.csv"
    seen = []

    def fake_run(cmd, **kwargs):
        out = next(c.split("=", 1)[1] for c in cmd if c.startswith("hydra.run.dir="))
        (tmp_path / out).mkdir(parents=True, exist_ok=True)
        (tmp_path / out / "test_metrics.csv").write_text("set,psnr\n")
        seen.append(table.read_text().count("\n") if table.is_file() else 0)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(study.subprocess, "run", fake_run)
    records = study.run_jobs(args, jobs, table)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert seen == [0, 2]  # the first job's row (and the header) was written before the second ran
    with open(table) as f:
        assert [r["job"] for r in csv.DictReader(f)] == [j.key for j in jobs]


def test_each_job_has_one_report_group():
    groups = {(j.part, j.name): study.group_of(j.part, j.name) for j in _plan()}
    assert groups[("denoise", "unet_gaussian15")] == "gaussian15"
    assert groups[("crops", "dip_salt_pepper")] == "salt_pepper"
    assert groups[("denoise", "released_gaussian25")] == "gaussian25"
    assert groups[("sr", "dip_x4_crops")] == groups[("sr", "bicubic_x4")] == "x4"
    assert groups[("inpaint", "unet_crops")] == "unet"
    assert {groups[("inpaint", f"dip_{g}_crops")] for g in study.DIP_GENERATORS} == {"dip"}
    # the denoising parts: one report per noise column
    assert {g for (p, _), g in groups.items() if p == "denoise"} == set(study.NOISES)


@pytest.mark.parametrize("part", study.PARTS)
def test_the_checked_in_summaries_are_the_checked_in_reports(part, tmp_path, monkeypatch):
    # summary.md is written from the groups' report.csv alone: a fresh clone rewrites it as is
    checked_in = study.HERE / part
    for report in checked_in.glob("*/report.csv"):
        (tmp_path / report.parent.name).mkdir()
        shutil.copy(report, tmp_path / report.parent.name / "report.csv")
    assert study.write_summary(part, tmp_path) == tmp_path / "summary.md"
    assert (tmp_path / "summary.md").read_text() == (checked_in / "summary.md").read_text()


def _row(run: str, psnr: str, **extra: str) -> dict:
    row = {"run": run, "test_set": "Set12", "psnr": psnr, "ssim": "0.8", "status": "ok"}
    return {**row, "input_psnr": "24.6", "input_ssim": "0.5", **extra}


def test_a_group_rewritten_from_some_runs_keeps_the_others_rows(tmp_path, monkeypatch):
    # a fresh clone that reruns one job of a column must not drop the column's other rows
    monkeypatch.setattr(study, "HERE", tmp_path / "study")
    args = study.parse(["--parts", "denoise", "--noises", "gaussian15"])
    args.root = tmp_path / "runs"
    out = tmp_path / "study" / "denoise" / "gaussian15"
    out.mkdir(parents=True)
    study._write_rows(
        [_row("unet_gaussian15", "30.0"), _row("bm3d_gaussian15", "31.0")], out / "report.csv"
    )
    (args.root / "b2min" / "denoise" / "unet_gaussian15" / ".hydra").mkdir(parents=True)
    # a run folder of another column: this run did not choose it, so its report is left alone
    (args.root / "b2min" / "denoise" / "unet_gaussian50" / ".hydra").mkdir(parents=True)

    def rerun_report(dirs, output, **kwargs):  # the rerun job's row, as restore.report writes it
        assert [d.name for d in dirs] == ["unet_gaussian15"]
        study._write_rows([_row("unet_gaussian15", "30.5", steps="900")], output / "report.csv")
        (output / "report.md").write_text("# Run comparison\n")
        return types.SimpleNamespace(runs=dirs)

    monkeypatch.setattr("restore.report.make_report", rerun_report)
    study.write_reports(args)
    rows = {r["run"]: r for r in study.read_csv(out / "report.csv", numbers=False)}
    assert rows["unet_gaussian15"]["psnr"] == "30.5" and rows["unet_gaussian15"]["steps"] == "900"
    assert rows["bm3d_gaussian15"]["psnr"] == "31.0"
    assert "Kept from the earlier `report.csv`" in (out / "report.md").read_text()
    assert "bm3d_gaussian15" in (out / "report.md").read_text()
    summary = (tmp_path / "study" / "denoise" / "summary.md").read_text()
    assert "| unet | 30.50 / 0.8000 |" in summary and "| bm3d | 31.00 / 0.8000 |" in summary
    assert "| unet | - | 900 | - | - |" in summary
    assert not (tmp_path / "study" / "denoise" / "gaussian50").exists()


def test_only_runs_the_jobs_it_names():
    jobs = _plan("--parts", "inpaint", "--only", "inpaint/dip_*,inpaint/unet")
    assert [j.key for j in jobs] == ["inpaint/unet"] + [
        f"inpaint/dip_{g}_crops" for g in study.DIP_GENERATORS
    ]
    assert _plan("--only", "crops/nothing_*") == []


def test_the_summary_shows_each_columns_steps_when_machines_differ():
    rows = [
        _row("unet_gaussian25", "29.5", steps="836", val_psnr_final="28.1"),
        _row("unet_gaussian15", "31.6", steps="454", val_psnr_final="30.35"),
        _row("bm3d_gaussian15", "32.4"),
    ]
    text = study.summary_tables("denoise", rows, list(study.NOISES))
    assert "| method | gaussian25 Set12 | gaussian15 Set12 |" in text
    assert "| bm3d | not run | 32.40 / 0.8000 |" in text
    assert "| unet | 836 / 28.10 | 454 / 30.35 |" in text  # steps / last val PSNR per column
    steps_table = text.split("per column.")[1]
    assert "| unet |" in steps_table and "| bm3d |" not in steps_table  # trained methods only


def test_a_gpu_study_goes_to_its_own_folders(tmp_path, monkeypatch):
    """--override reaches every job's command (and composes: trainer=gpu over the study
    experiment's cpu trainer); --out takes jobs.csv away from the checked-in study."""
    argv = ["--parts", "denoise,crops", "--noises", "gaussian25", "--models", "unet"]
    argv += ["--override", "trainer=gpu", "--root", str(tmp_path / "runs")]
    argv += ["--out", str(tmp_path / "study_gpu")]
    args = study.parse(argv)
    jobs = study.plan(args)
    commands = [study.command(args, job) for job in jobs]
    assert all("trainer=gpu" in cmd for cmd in commands)
    train = next(j for j in jobs if j.module == "restore.train")
    overrides = [*train.overrides, *args.override]
    assert compose_config("train", overrides, tmp_path).trainer.accelerator == "gpu"

    def fake_run(cmd, **kwargs):
        out = next(c.split("=", 1)[1] for c in cmd if c.startswith("hydra.run.dir="))
        (tmp_path / out).mkdir(parents=True, exist_ok=True)
        (tmp_path / out / "test_metrics.csv").write_text("set,psnr\n")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(study.subprocess, "run", fake_run)
    monkeypatch.setattr(study, "write_reports", lambda args: None)
    before = (study.HERE / "jobs.csv").read_text()
    study.main(argv)
    with open(tmp_path / "study_gpu" / "jobs.csv") as f:
        assert {r["job"] for r in csv.DictReader(f)} == {j.key for j in jobs}
    assert (study.HERE / "jobs.csv").read_text() == before
