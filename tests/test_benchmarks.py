"""The speed benchmarks' shared results file, and the platform-step benchmark end to end (a few
steps: it must run and report, the speed itself is its results file's business, not a test's)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from restore.utils.config import PROJECT_ROOT

BENCHMARKS = PROJECT_ROOT / "benchmarks"


def _speed_goals(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("speed_goals", BENCHMARKS / "speed_goals.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "speed_goals.json")
    return module


def test_record_sets_one_goal_and_keeps_the_others(tmp_path, monkeypatch):
    goals = _speed_goals(tmp_path, monkeypatch)
    goals.record("step_ratio", 0.97, command="python a.py", bf16=1)
    goals.record("dip_ratio", 1.6, command="python b.py")
    data = json.loads(goals.RESULTS.read_text())
    assert data["step_ratio"] == 0.97 and data["dip_ratio"] == 1.6
    assert data["budget_set12"] is None and data["gpu_minutes_to_29_23"] is None
    assert data["details"]["step_ratio"]["command"] == "python a.py"
    assert data["details"]["step_ratio"]["bf16"] == 1
    assert not list(tmp_path.glob(".*.tmp"))  # renamed into place, nothing left beside it


def test_record_refuses_an_unknown_goal(tmp_path, monkeypatch):
    goals = _speed_goals(tmp_path, monkeypatch)
    with pytest.raises(KeyError, match="unknown speed goal 'steps'"):
        goals.record("steps", 1.0)
    assert not goals.RESULTS.exists()


@pytest.mark.slow
def test_platform_step_benchmark_runs_both_sides(shared_datasets, tmp_path):
    out = tmp_path / "platform_step.json"
    cmd = [sys.executable, str(BENCHMARKS / "platform_step.py"), "--steps", "3", "--warmup", "2"]
    cmd += ["--rounds", "1", "--no-record", "--output", str(out)]
    cmd += ["--override", "trainer.enable_progress_bar=false"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    (round_,) = result["rounds"]
    assert round_["steps"] == 3
    assert round_["bare_s_per_step"] > 0 and round_["platform_s_per_step"] > 0
    expected = round_["bare_s_per_step"] / round_["platform_s_per_step"]
    assert result["step_ratio"] == pytest.approx(expected, abs=1e-4)
    assert result["preset"].startswith("experiment=unet_cpu_budget")


def test_dip_speed_benchmark_reports_the_ratio_and_its_bound(tmp_path):
    """A few float32 iterations on a small crop: both loops run, and the bound (plain s/it over
    restore.dip's convolution s/it) is at least the ratio, since restore.dip's step holds its
    convolutions; each loop's convolution share is a fraction of its time."""
    out = tmp_path / "dip_speed.json"
    cmd = [sys.executable, str(BENCHMARKS / "dip_speed.py"), "--size", "32", "--iters", "3"]
    cmd += ["--warmup", "1", "--rounds", "1", "--precisions", "32-true", "--no-record"]
    cmd += ["--out", str(out)]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (entry,) = json.loads(out.read_text())["results"]
    assert entry["precision"] == "32-true"
    assert entry["wall"]["plain_its_per_s"] > 0 and entry["wall"]["restore_dip_its_per_s"] > 0
    assert all(0 < share < 1 for share in entry["conv_share"].values()), entry["conv_share"]
    assert entry["bound"] >= entry["ratio"]


def _bm3d_vs_model(tmp_path, monkeypatch):
    goals = _speed_goals(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "speed_goals", goals)
    spec = importlib.util.spec_from_file_location("bm3d_vs_model", BENCHMARKS / "bm3d_vs_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, goals


def _budget_checkpoint(path, minutes):
    import torch

    config = {
        "callbacks": {"time_budget": {"minutes": minutes, "schedule": "cosine"}},
        "model": {"_target_": "restore.archs.unet.UNet", "in_channels": 1, "width": 32},
        "data": {"batch_size": 16, "patch_size": 64},
    }
    state = {"restore_config": config, "global_step": 6065, "callbacks": {"TimeBudget": {}}}
    state["callbacks"]["TimeBudget"]["elapsed"] = minutes * 60.0
    torch.save(state, path)
    return str(path)


def test_only_a_30_minute_budget_run_sets_the_budget_goals(tmp_path, monkeypatch):
    bench, goals = _bm3d_vs_model(tmp_path, monkeypatch)
    sets = {
        name: {"model_psnr": p, "bm3d_psnr": 29.0} for name, p in [("Set12", 30.2), ("BSD68", 29.1)]
    }
    args = type("Args", (), {"kair": None, "sigma": 25.0, "limit": None})()

    args.ckpt = _budget_checkpoint(tmp_path / "short.ckpt", minutes=4)
    bench.record_budget_goals(args, {"sets": sets})
    assert not goals.RESULTS.exists()  # a 4-minute ablation arm is not the goal's run

    args.ckpt = _budget_checkpoint(tmp_path / "budget.ckpt", minutes=30)
    args.limit = 3  # part of the sets: not the protocol
    bench.record_budget_goals(args, {"sets": sets})
    assert not goals.RESULTS.exists()

    args.limit = None
    bench.record_budget_goals(args, {"sets": sets})
    data = json.loads(goals.RESULTS.read_text())
    assert (data["budget_set12"], data["budget_bsd68"]) == (30.2, 29.1)
    details = data["details"]["budget_set12"]
    assert details["steps"] == 6065 and details["train_minutes"] == 30.0
    assert details["model"] == {"_target_": "restore.archs.unet.UNet", "width": 32}


@pytest.mark.slow
def test_the_gpu_time_to_psnr_benchmark_reads_the_minutes_at_the_target(tmp_path):
    # on the CPU, two tiny epochs: the target 0 dB is reached at the first validation, so training
    # stops there (EarlyStopping's threshold) and that validation's training minutes are the result
    from tests.data.test_datamodules import write_images

    write_images(tmp_path / "sets" / "Train400", 4, size=(64, 64), mode="L")
    write_images(tmp_path / "sets" / "BSD68", 2, size=(40, 44), mode="L", seed=1)
    write_images(tmp_path / "sets" / "Set12", 1, size=(40, 40), mode="L", seed=2)
    out = tmp_path / "result.json"
    cmd = [sys.executable, str(BENCHMARKS / "gpu_time_to_psnr.py"), "--trainer", "cpu"]
    cmd += ["--data", str(tmp_path / "sets"), "--target", "0", "--output", str(out)]
    cmd += ["--run-dir", str(tmp_path / "run"), "--"]
    cmd += ["task.compile=false", "test=false", "data.patches_per_epoch=16", "data.batch_size=8"]
    cmd += ["data.num_workers=0", "trainer.max_epochs=3"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and len(result["curve"]) == 1  # stopped at the target
    (first,) = result["curve"]
    assert first["epoch"] == 0 and first["step"] == 1  # the log's step: 2 batches done
    assert first["train_min"] > 0 and result["minutes_to_target"] == round(first["train_min"], 3)
    assert "data.resident=true" in result["command"]


@pytest.mark.slow
@pytest.mark.shared
def test_the_benchmarks_protocol_gives_the_released_weights_published_numbers(
    shared_datasets, shared_weights
):
    # the scoring bm3d_vs_model.py and ema_bn_check.py share: the released DnCNN-S weights give
    # Set12 30.43 under it, as restore.eval does (tests/test_released_weights.py)
    from torch import nn

    from restore.archs import DnCNN
    from restore.degradations import GaussianNoise
    from restore.tasks import DenoisingTask

    spec = importlib.util.spec_from_file_location("protocol", BENCHMARKS / "denoise_protocol.py")
    protocol = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(protocol)
    net = DnCNN(1, batch_norm=False, weights=str(shared_weights / "kair_dncnn_25.pth"))
    task = DenoisingTask(net, nn.MSELoss(), GaussianNoise(sigma=25.0))
    assert protocol.mean_psnr(task, "Set12") == pytest.approx(30.43, abs=0.01)
    name, first = protocol.clean_images("Set12", limit=1)[0]
    assert name == "01"
    noisy = protocol.observe(task, first).input
    assert protocol.psnr(noisy, first) == pytest.approx(20.4, abs=0.3)  # 01.png, sigma 25
