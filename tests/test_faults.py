"""Nothing lost: divergence stops with one line and no non-finite checkpoint, a signal saves and
exits non-zero and the run resumes from what it saved, one run holds its directory."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from restore.reporting.runs import read_run
from restore.train import train
from restore.utils.config import PROJECT_ROOT
from restore.utils.errors import ConfigError, TrainingDiverged
from restore.utils.rundir import LOCK_NAME, hold_run_dir
from tests.conftest import compose_config

SMALL = [
    "trainer.accelerator=cpu",
    "data.patch_size=32",
    "data.batch_size=4",
    "data.val_crop=32",
    "model.depth=4",
    "model.width=8",
    "logger=csv",
    "callbacks.image_samples=null",
]


class NaNAfter(torch.nn.Module):
    """A loss term that is 0 for ``after`` training steps, then NaN: a divergence on cue."""

    def __init__(self, after: int):
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, pred, target, **aux):
        self.calls += self.training
        return pred.sum() * (0.0 if self.calls <= self.after else float("nan"))


class _NaNGradient(torch.autograd.Function):
    """0 forward, NaN backward: a finite loss with a non-finite gradient (an overflow in
    backward)."""

    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x.new_zeros(())

    @staticmethod
    def backward(ctx, grad):
        return torch.full(ctx.shape, float("nan"), dtype=grad.dtype, device=grad.device)


class NaNGradientAfter(torch.nn.Module):
    """A loss term that is always 0 and whose gradient is NaN after ``after`` training steps."""

    def __init__(self, after: int):
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, pred, target, **aux):
        self.calls += self.training
        if self.training and self.calls > self.after:
            return _NaNGradient.apply(pred)
        return pred.sum() * 0.0


def test_divergence_stops_with_the_step_and_lr_and_keeps_no_nonfinite_checkpoint(train_cfg):
    cfg = train_cfg(  # 4 steps per epoch; NaN from step 10, in the third epoch
        "loss=mse",
        "trainer.max_epochs=5",
        "+loss.terms.bomb._target_=tests.test_faults.NaNAfter",
        "+loss.terms.bomb.after=10",
        "+loss.weights.bomb=1.0",
    )
    with pytest.raises(TrainingDiverged) as raised:
        train(cfg)
    message = str(raised.value)
    # the 11th optimizer step (global_step 10 -> 11) had the first NaN loss; lr as scheduled
    assert re.match(r"training diverged: non-finite loss at step 11 \(lr 0\.\d+\)", message)
    assert "the last finite checkpoint is" in message and "\n" not in message
    checkpoints = sorted((Path(cfg.paths.output_dir) / "checkpoints").glob("*.ckpt"))
    assert checkpoints, "the finite epochs were checkpointed"
    for ckpt in checkpoints:
        saved = torch.load(ckpt, weights_only=False)
        assert saved["global_step"] <= 8, ckpt  # nothing after the divergence
        assert all(torch.isfinite(v).all() for v in saved["state_dict"].values()), ckpt


def test_a_nonfinite_gradient_under_a_finite_loss_stops_the_run_at_its_step(train_cfg):
    cfg = train_cfg(  # 4 steps per epoch; the 4th step (last of epoch 1) gets a NaN gradient
        "loss=mse",
        "trainer.max_epochs=3",
        "+loss.terms.bomb._target_=tests.test_faults.NaNGradientAfter",
        "+loss.terms.bomb.after=3",
        "+loss.weights.bomb=1.0",
    )
    with pytest.raises(TrainingDiverged) as raised:
        train(cfg)
    assert re.match(r"training diverged: non-finite gradient at step 4 \(lr ", str(raised.value))
    for ckpt in (Path(cfg.paths.output_dir) / "checkpoints").glob("*.ckpt"):
        saved = torch.load(ckpt, weights_only=False)
        assert all(torch.isfinite(v).all() for v in saved["state_dict"].values()), ckpt


def _train_until_it_runs(run_dir: Path, *overrides: str) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    args = [*SMALL, "data.patches_per_epoch=100000", f"hydra.run.dir={run_dir}", *overrides]
    proc = subprocess.Popen(
        [sys.executable, "-m", "restore.train", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = run_dir / "train.log"
    deadline = time.monotonic() + 300
    while not (log.is_file() and "and stop" in log.read_text()):  # Preemption.on_fit_start
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.5)
    time.sleep(3)  # a few steps
    return proc


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGUSR1, 138)])
def test_a_signal_saves_last_ckpt_exits_nonzero_and_the_run_resumes(sig, code, tmp_path):
    run_dir = tmp_path / "run"
    proc = _train_until_it_runs(run_dir)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == code, err[-3000:]
    last = run_dir / "checkpoints" / "last.ckpt"
    step = torch.load(last, weights_only=False)["global_step"]
    assert step >= 1
    name = signal.Signals(sig).name
    assert f"error: stopped by {name} at step {step}: saved {last}" in err
    assert f"stopped by {name}" in (run_dir / "train.log").read_text()

    # resumed in its own folder (the lock was released): it continues from the saved step
    resumed = subprocess.run(
        [
            sys.executable, "-m", "restore.train", *SMALL, "data.patches_per_epoch=100000",
            f"hydra.run.dir={run_dir}", f"ckpt_path={last}", f"trainer.max_steps={step + 2}",
            "test=false",
        ],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert torch.load(last, weights_only=False)["global_step"] == step + 2


def test_a_second_run_in_a_held_directory_is_refused_naming_the_holder(tmp_path, train_cfg):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket

        (tmp_path / LOCK_NAME).write_text(f"{socket.gethostname()} {holder.pid}\n")
        with (
            pytest.raises(ConfigError, match=f"in use by process {holder.pid}"),
            hold_run_dir(tmp_path),
        ):
            pass
        cfg = train_cfg("debug=fdr")
        (Path(cfg.paths.output_dir) / LOCK_NAME).write_text(f"{socket.gethostname()} {holder.pid}")
        with pytest.raises(ConfigError, match=r"hydra\.run\.dir .* is in use"):
            train(cfg)
    finally:
        holder.kill()
        holder.wait()
    # a lock left by a process that is gone (kill -9) is taken over, and released after
    with hold_run_dir(tmp_path) as lock:
        assert lock.read_text().split()[1] == str(os.getpid())
    assert not lock.exists()


@pytest.mark.parametrize(
    "line", ["job failed: TrainingDiverged: training diverged: x", "training diverged: x"]
)
def test_the_report_marks_a_diverged_run(tmp_path, line):
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(compose_config("train", [], tmp_path), tmp_path / ".hydra" / "config.yaml")
    (tmp_path / "train.log").write_text(f"[2026-01-01 10:00:00,000][restore][ERROR] - {line}\n")
    run = read_run(tmp_path, "r")
    assert run.status == "diverged" and "training diverged: x" in run.error


def test_a_resumed_run_logs_no_step_twice(train_cfg):
    # 4 steps per epoch; a run killed in epoch 3 had logged steps 8-11 after its last checkpoint
    cfg = train_cfg(
        "logger=csv", "trainer.max_epochs=2", "trainer.log_every_n_steps=1", "test=false"
    )
    train(cfg)
    metrics = Path(cfg.paths.output_dir) / "csv" / "metrics.csv"
    with open(metrics, newline="") as f:
        header = next(csv.reader(f))
    with open(metrics, "a", newline="") as f:  # what the killed run had written
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writerows({"epoch": 2, "step": s, "train/loss": 0.5} for s in range(8, 12))
    resumed = OmegaConf.merge(cfg, {"trainer": {"max_epochs": 3}, "ckpt_path": "last"})
    train(resumed)
    with open(metrics, newline="") as f:
        rows = list(csv.DictReader(f))
    seen = [(r["step"], k) for r in rows for k, v in r.items() if v and k not in ("step", "epoch")]
    assert len(seen) == len(set(seen)), "a (step, metric) pair logged twice"
    assert "0.5" not in {r["train/loss"] for r in rows}, "the killed run's rows were dropped"
    assert sorted(int(r["step"]) for r in rows if r["train/loss"]) == list(range(12))


def test_a_save_killed_midway_leaves_the_old_checkpoint_and_no_partial_file(tmp_path, monkeypatch):
    import tempfile

    from restore.utils import checkpoint_io
    from restore.utils.build import build_trainer

    trainer, _, _ = build_trainer(compose_config("train", ["logger=csv"], tmp_path / "run"))
    io = trainer.strategy.checkpoint_io
    assert isinstance(io, checkpoint_io.AtomicCheckpointIO)
    ckpt = tmp_path / "ckpts" / "last.ckpt"
    io.save_checkpoint({"step": 1}, ckpt)
    (ckpt.parent / ".last.ckpt.999999999.tmp").write_bytes(b"left by a killed process")
    before = set(Path(tempfile.gettempdir()).iterdir())

    def killed_midway(obj, f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt  # what SIGINT/SIGKILL mid-write amounts to for the file

    monkeypatch.setattr(checkpoint_io.torch, "save", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": 2}, ckpt)
    assert torch.load(ckpt, weights_only=True) == {"step": 1}  # the old one, whole
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["last.ckpt"]  # stale one removed
    new = [p for p in set(Path(tempfile.gettempdir()).iterdir()) - before if p.is_file()]
    assert not [p for p in new if p.read_bytes().startswith(b"PK\x03\x04 half")]  # none in /tmp


def test_inside_a_slurm_job_the_run_folder_is_the_jobs(monkeypatch):
    from restore.utils.config import _run_folder

    from .test_sweeps import compose_with_hydra

    for var in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_STEP_ID"):
        monkeypatch.delenv(var, raising=False)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d-\d{6}", _run_folder())
    monkeypatch.setenv("SLURM_JOB_ID", "77")  # a batch script's own process: a folder per run
    assert re.fullmatch(r"\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d-\d{6}", _run_folder())
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    assert _run_folder() == "slurm/77"  # every srun rank, and the job again after a requeue
    run_dir = compose_with_hydra([]).hydra.run.dir
    assert run_dir.endswith("/train/slurm/77"), run_dir
    monkeypatch.setenv("SLURM_STEP_ID", "2")
    assert _run_folder() == "slurm/77.2"  # a later srun step of the same allocation
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "70")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert _run_folder() == "slurm/70_3.2"
