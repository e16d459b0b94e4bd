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
