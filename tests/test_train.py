"""End-to-end runs of restore.train / restore.eval on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch

from restore.eval import evaluate, with_checkpoint_config
from restore.train import train
from restore.utils.config import PROJECT_ROOT

from .conftest import FAST, compose_config, read_csv

NOISES = ["gaussian", "salt_pepper", "uniform"]


def run_cli(module: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "PYTHONWARNINGS": "ignore",
        "OMP_NUM_THREADS": "2",
    }
    env.pop("WANDB_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("noise", NOISES)
def test_fast_dev_run_each_noise(noise, train_cfg):
    metrics = train(train_cfg(f"noise={noise}", "debug=fdr"))
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
    assert "test/embedded/psnr" in metrics


def test_training_learns_in_bf16_and_writes_run_outputs(train_cfg, tmp_path):
    cfg = train_cfg(
        "trainer.precision=bf16-mixed",
        "trainer.max_epochs=3",
        "data.patches_per_epoch=256",
        "optimizer.lr=3e-3",
    )
    metrics = train(cfg)
    gain = metrics["test/embedded/psnr"] - metrics["test/embedded/input_psnr"]
    assert gain > 2.0, f"bf16 training gave only {gain:.2f} dB over the noisy input"
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "csv" / "metrics.csv").is_file()
    assert (tmp_path / "test_samples_embedded.png").is_file()
    rows = read_csv(tmp_path / "test_per_image.csv")
    assert {r["image"] for r in rows} == {"camera", "chelsea"}
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["restore_config"]["model"]["_target_"] == "restore.archs.DnCNN"


def test_eval_of_checkpoint_reproduces_training_test_metrics(train_cfg, tmp_path):
    metrics = train(train_cfg("trainer.max_epochs=1"))
    best = next((tmp_path / "checkpoints").glob("epoch_*.ckpt"))
    eval_cfg = compose_config("eval", [f"ckpt_path={best}"], tmp_path / "eval")
    # nothing about the model or data is given: it comes from the checkpoint
    again = evaluate(eval_cfg)
    for key in ("test/embedded/psnr", "test/embedded/ssim", "test/embedded/input_psnr"):
        assert again[key] == pytest.approx(metrics[key], abs=1e-4), key


class ResumeProbe(L.Callback):
    """Records the state training resumed with."""

    def on_train_start(self, trainer, pl_module):
        state = trainer.optimizers[0].state_dict()
        record = {
            "global_step": trainer.global_step,
            "epoch": trainer.current_epoch,
            "exp_avg_sum": float(sum(s["exp_avg"].abs().sum() for s in state["state"].values())),
            "step": float(next(iter(state["state"].values()))["step"]) if state["state"] else 0.0,
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
        }
        Path(pl_module.run_config["paths"]["output_dir"], "probe.json").write_text(
            json.dumps(record)
        )


def test_resume_from_last_checkpoint_continues_state(train_cfg, tmp_path):
    train(train_cfg("trainer.max_epochs=1", "test=false"))
    last = tmp_path / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=False)
    opt_state = saved["optimizer_states"][0]["state"]
    cfg = train_cfg(
        "trainer.max_epochs=2",
        "test=false",
        "ckpt_path=last",
        "+callbacks.probe._target_=tests.test_train.ResumeProbe",
    )
    train(cfg)
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert probe["global_step"] == saved["global_step"] > 0
    assert probe["epoch"] == saved["epoch"] + 1
    assert probe["step"] == float(next(iter(opt_state.values()))["step"])
    expected = float(sum(s["exp_avg"].abs().sum() for s in opt_state.values()))
    assert probe["exp_avg_sum"] == pytest.approx(expected, rel=1e-6)
    # the CSV logger continued the same metrics file: epochs 0 and 1 are both there
    rows = read_csv(tmp_path / "csv" / "metrics.csv")
    assert {r["epoch"] for r in rows if r.get("val/psnr")} == {"0", "1"}
    # the training clock (validation excluded) was saved and continued, not restarted
    minutes = [float(r["time/train_min"]) for r in rows if r.get("time/train_min")]
    assert len(minutes) == 2 and 0 < minutes[0] < minutes[1]
    assert saved["callbacks"]["TrainClock"]["elapsed"] == pytest.approx(60 * minutes[0], abs=1.0)


def test_last_checkpoint_is_the_latest_epoch_even_without_improvement(train_cfg, tmp_path):
    # lr=0 and no batch norm: the weights never change, val/psnr never improves after epoch 0
    train(
        train_cfg(
            "trainer.max_epochs=3",
            "test=false",
            "optimizer.lr=0.0",
            "model.batch_norm=false",
        )
    )
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == 2
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("epoch_*.ckpt"))
    assert kept == ["epoch_000.ckpt"]


def test_wandb_offline_run_holds_metrics_and_images(train_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    train(train_cfg("logger=wandb", "trainer.max_epochs=1"))
    import wandb

    wandb.finish()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, "one offline run directory, to `wandb sync` later"
    # The run's records (history, summary, config) are protobufs in run-<id>.wandb, the file
    # `wandb sync` uploads; their keys and string values are stored as plain bytes.
    keys = (
        b"val/psnr",
        b"train/loss",
        b"test/embedded/psnr",
        b"restore.archs.DnCNN",
        b"test/per_image",
    )
    records = b""
    for _ in range(60):  # the W&B service process may still be flushing the file
        records = next(runs[0].glob("run-*.wandb")).read_bytes()
        if all(key in records for key in keys):
            break
        time.sleep(0.5)
    for key in keys:
        assert key in records, key
    images = list((runs[0] / "files" / "media" / "images").rglob("*.png"))
    assert images, "validation image panels logged"


def test_resumed_run_continues_the_same_wandb_run(train_cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb

    train(train_cfg("logger=wandb", "trainer.max_epochs=1", "test=false"))
    wandb.finish()
    train(train_cfg("logger=wandb", "trainer.max_epochs=2", "test=false", "ckpt_path=last"))
    wandb.finish()
    runs = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 2, "one offline directory per process"
    # offline-run-<date>_<time>-<run id>[-<n> when that folder name was taken]
    ids = {run.name.split("-")[3] for run in runs}
    assert len(ids) == 1, f"both processes wrote to one W&B run id, got {ids}"


def test_ddp_two_processes_on_cpu(tmp_path):
    result = run_cli(
        "restore.train",
        *FAST,
        "trainer=ddp_sim",
        "trainer.max_epochs=1",
        "logger=csv",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "world_size: 2" in result.stderr + result.stdout
        or "GLOBAL_RANK: 1" in result.stderr + result.stdout
    )
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "test_metrics.csv").is_file()


def test_multirun_over_noises_leaves_three_runs(tmp_path):
    result = run_cli(
        "restore.train",
        "-m",
        "noise=gaussian,salt_pepper,uniform",
        *FAST,
        "trainer.max_epochs=1",
        "callbacks=eval",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p for p in tmp_path.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(runs) == 3
    for run in runs:
        rows = read_csv(run / "test_metrics.csv")
        assert rows and float(rows[0]["input_psnr"]) > 0


def test_ddp_inside_a_multirun_runs_one_group_per_job(tmp_path):
    # ddp_spawn keeps each sweep job's processes inside that job: two jobs, two output folders,
    # one checkpoint each (plain `ddp` would re-launch the whole sweep from every child)
    result = run_cli(
        "restore.train",
        "-m",
        "noise=gaussian,uniform",
        "trainer=ddp_sim",
        *FAST,
        "trainer.max_epochs=1",
        "logger=csv",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1"]
    for job in jobs:
        assert (job / "checkpoints" / "last.ckpt").is_file()
        rows = read_csv(job / "test_metrics.csv")
        assert len(rows) == 1 and float(rows[0]["psnr"]) > 0


def test_eval_key_override_keeps_the_stored_group(tmp_path):
    stored = {"task": {"_target_": "restore.tasks.SRTask", "scale": 2, "self_ensemble": False}}
    ckpt = tmp_path / "sr.ckpt"
    torch.save({"restore_config": stored}, ckpt)
    cfg = compose_config(
        "eval", [f"ckpt_path={ckpt}", "task.self_ensemble=true"], tmp_path / "eval"
    )
    # a key of the group: the stored SR task, with that key changed
    task = with_checkpoint_config(cfg, ["task.self_ensemble=true"]).task
    assert (task._target_, task.scale, task.self_ensemble) == ("restore.tasks.SRTask", 2, True)
    # the group itself chosen again: the command line's task (denoising here)
    cfg = compose_config("eval", [f"ckpt_path={ckpt}"], tmp_path / "eval2")
    task = with_checkpoint_config(cfg, ["task=denoise"]).task
    assert task._target_ == "restore.tasks.DenoisingTask"


def test_eval_keeps_the_checkpoints_model_so_one_sweep_mixes_methods(tmp_path):
    stored = {"model": {"_target_": "restore.archs.DnCNN", "depth": 5}}
    ckpt = tmp_path / "dncnn.ckpt"
    torch.save({"restore_config": stored}, ckpt)
    overrides = ["model=dip", "model.max_steps=5"]  # e.g. -m ckpt_path=null,A.ckpt model=dip
    cfg = compose_config("eval", [f"ckpt_path={ckpt}", *overrides], tmp_path / "eval")
    model = with_checkpoint_config(cfg, [f"ckpt_path={ckpt}", *overrides]).model
    assert model._target_ == "restore.archs.DnCNN" and "max_steps" not in model
    cfg = compose_config("eval", overrides, tmp_path / "dip")  # the job without a checkpoint
    assert cfg.model._target_ == "restore.dip.DeepImagePrior" and cfg.model.max_steps == 5
