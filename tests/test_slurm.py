"""The cluster path on a real Slurm cluster: the one-node cluster of ``.ci/slurm`` (munge,
slurmctld and slurmd on 127.0.0.1), which ``.ci/run`` brings up before ``make test``.

1. a two-job ``-m`` sweep through ``hydra/launcher=slurm`` (submitit), reported by restore.report;
2. DDP with two Slurm tasks (srun's ranks, Lightning's SLURMEnvironment, gloo): the same weights
   as the two-process ``ddp_spawn`` run of ``trainer=ddp_sim``;
3. preemption: ``scancel --signal=USR1`` mid-epoch; the job saves, requeues itself, starts again
   and resumes at the saved step, and ends with exactly the optimizer steps, logged rows and
   training clock of an uninterrupted run.

Skipped where no cluster answers, except under ``RESTORE_REQUIRE_SLURM=1`` (set by ``.ci/run``),
where a missing cluster fails.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from restore.report import make_report
from restore.utils.config import PROJECT_ROOT

from .test_train import run_cli

pytestmark = pytest.mark.slow

SMALL = [
    "trainer.accelerator=cpu",
    "data.patch_size=32",
    "data.batch_size=8",
    "data.val_crop=64",
    "model.depth=4",
    "model.width=16",
    "logger=csv",
]
# one CPU and a little memory per task: the test node declares 4 CPUs on a 2-core machine
LAUNCHER = [
    "hydra/launcher=slurm",
    "hydra.launcher.partition=debug",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
    "hydra.launcher.timeout_min=10",
]


def _cluster_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        states = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10
        ).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(s.rstrip("*") in ("idle", "mixed", "allocated") for s in states)


@pytest.fixture(scope="module", autouse=True)
def slurm_cluster() -> None:
    if _cluster_answers():
        return
    if os.environ.get("RESTORE_REQUIRE_SLURM") == "1":
        pytest.fail("RESTORE_REQUIRE_SLURM=1 but no Slurm cluster answers: run `bash .ci/slurm up`")
    pytest.skip("no Slurm cluster (bring the test one up with `sudo bash .ci/slurm up`)")


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def text_of(path: Path) -> str:
    """A file another process is still writing (a UTF-8 character may be cut in two)."""
    return path.read_text(errors="replace") if path.exists() else ""


def squeue_state(job: str) -> str:
    out = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True)
    return out.stdout.strip()


def test_a_sweep_through_the_slurm_launcher_finishes_and_is_reported(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli(
        "restore.train",
        "-m",
        *LAUNCHER,
        "noise=gaussian,uniform",
        *SMALL,
        "data.patches_per_epoch=16",
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # submitit's own folder: one Slurm job per sweep job, each with its result file
    results = sorted((sweep / ".submitit").rglob("*_result.pkl"))
    assert len(results) == 2, sorted((sweep / ".submitit").rglob("*"))
    report = make_report([sweep], timing=False, grid=False)
    rows = read_rows(report.output / "report.csv")
    assert len(rows) == 2, rows
    assert {r["status"] for r in rows} == {"ok"}, rows
    labels = " ".join(r["label"] for r in rows)
    assert "gaussian" in labels and "uniform" in labels
    assert all(float(r["psnr"]) > 0 for r in rows)


def test_ddp_with_two_slurm_tasks_matches_the_two_process_run(tmp_path):
    common = [*SMALL, "data.patches_per_epoch=128", "trainer.max_epochs=1"]
    sweep = tmp_path / "slurm"
    result = run_cli(
        "restore.train",
        "-m",
        *LAUNCHER,
        "hydra.launcher.tasks_per_node=2",
        "trainer=ddp_slurm",
        "trainer.sync_batchnorm=false",
        *common,
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    logs = "".join(p.read_text() for p in (sweep / ".submitit").rglob("*_log.err"))
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in logs and "GLOBAL_RANK: 1, MEMBER: 2/2" in logs
    assert sorted(p.name for p in (sweep / "0" / "checkpoints").glob("*.ckpt")) == [
        "epoch_000.ckpt",
        "last.ckpt",
    ]

    spawn = tmp_path / "spawn"
    result = run_cli("restore.train", "trainer=ddp_sim", *common, f"hydra.run.dir={spawn}")
    assert result.returncode == 0, result.stderr[-3000:]

    on_slurm = torch.load(sweep / "0" / "checkpoints" / "last.ckpt", weights_only=False)
    spawned = torch.load(spawn / "checkpoints" / "last.ckpt", weights_only=False)
    assert on_slurm["global_step"] == spawned["global_step"] == 128 // 8 // 2
    for key, value in spawned["state_dict"].items():
        torch.testing.assert_close(on_slurm["state_dict"][key], value, atol=1e-5, rtol=1e-4)
    slurm_psnr = float(read_rows(sweep / "0" / "test_metrics.csv")[0]["psnr"])
    spawn_psnr = float(read_rows(spawn / "test_metrics.csv")[0]["psnr"])
    assert abs(slurm_psnr - spawn_psnr) < 0.01


class SlowSteps(L.Callback):
    """50 ms per training step: the run lasts long enough to be signalled mid-epoch on any CPU."""

    def on_train_batch_end(self, *args) -> None:
        time.sleep(0.05)


def test_a_preempted_job_requeues_and_ends_with_an_uninterrupted_runs_steps(tmp_path):
    run_dir, out = tmp_path / "run", tmp_path / "slurm-%j.out"
    epochs, patches, batch = 3, 160, 4
    steps = epochs * patches // batch
    args = [
        "trainer.accelerator=cpu", "data.patch_size=32", f"data.batch_size={batch}",
        "data.val_crop=32", "model.depth=4", "model.width=8", "logger=csv",
        "callbacks.image_samples=null", f"data.patches_per_epoch={patches}",
        f"trainer.max_epochs={epochs}", "trainer.log_every_n_steps=1", "test=false",
        "scheduler=cosine", "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}",
        "+callbacks.slow_steps._target_=tests.test_slurm.SlowSteps",
    ]  # fmt: skip
    script = tmp_path / "job.sh"
    script.write_text(
        "#!/bin/bash\n"
        "#SBATCH --job-name=restore-preempt --ntasks=1 --cpus-per-task=1 --mem=2G\n"
        f"#SBATCH --output={out} --open-mode=append --requeue\n"
        f"cd {PROJECT_ROOT}\n"
        'echo "start: restart ${SLURM_RESTART_COUNT:-0}"\n'
        f"srun {sys.executable} -m restore.train {' '.join(args)}\n"
        'echo "exit: $?"\n'
    )
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    job = subprocess.run(
        ["sbatch", "--parsable", str(script)], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()
    log = run_dir / "train.log"
    output = Path(str(out).replace("%j", job))
    try:
        deadline = time.monotonic() + 300
        while "and stop" not in text_of(log):  # Preemption.on_fit_start
            assert time.monotonic() < deadline, text_of(output) or job
            time.sleep(0.5)
        time.sleep(2)  # some steps into the run (>= 6 s long), before it can end
        subprocess.run(["scancel", "--signal=USR1", job], check=True)
        deadline = time.monotonic() + 420
        while "exit: 0" not in text_of(output):
            assert time.monotonic() < deadline, text_of(output)
            assert "exit: 1" not in text_of(output), text_of(output)
            time.sleep(1)
    finally:
        subprocess.run(["scancel", job], capture_output=True)

    text = text_of(output)
    assert "start: restart 0" in text and "start: restart 1" in text, text
    train_log = log.read_text()
    saved = int(train_log.split("SIGUSR1 at step ")[1].split(":")[0])
    assert 0 < saved < steps, train_log
    assert f"requeued Slurm job {job}" in train_log
    assert "requeued Slurm job: resuming from" in train_log

    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == steps  # what an uninterrupted run makes
    adam = last["optimizer_states"][0]["state"]
    assert all(int(s["step"]) == steps for s in adam.values())  # the optimizer continued
    assert last["lr_schedulers"][0]["last_epoch"] == epochs  # so did the (per-epoch) schedule
    # the CSV logger continued the same file: one row per optimizer step, none twice or missing
    rows = read_rows(run_dir / "csv" / "metrics.csv")
    trained = [int(r["step"]) for r in rows if r.get("train/loss")]
    assert sorted(trained) == list(range(steps)), trained
    # and the training clock continued: it grows across the restart
    minutes = [float(r["time/train_min"]) for r in rows if r.get("time/train_min")]
    assert len(minutes) == epochs and minutes == sorted(minutes) and minutes[0] > 0
