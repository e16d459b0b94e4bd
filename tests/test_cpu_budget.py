"""The wall-clock budget preset stops on time and writes its Set12/BSD68 evaluation."""

from __future__ import annotations

import pytest
import torch

from restore.callbacks import TimeBudget
from restore.train import train

from .conftest import compose_config, read_csv


def test_time_budget_cosine_schedule_shape():
    cb = TimeBudget(minutes=1, warmup=0.1, final_lr_ratio=0.01)
    assert cb.lr_factor(0.05) == pytest.approx(0.5)
    assert cb.lr_factor(0.1) == pytest.approx(1.0)
    assert cb.lr_factor(0.55) == pytest.approx(0.505, abs=1e-3)
    assert cb.lr_factor(1.0) == pytest.approx(0.01)
    assert TimeBudget(minutes=1, schedule="constant").lr_factor(0.9) == 1.0


@pytest.mark.shared
def test_budget_preset_stops_on_time_and_evaluates(shared_datasets, tmp_path):
    budget_s = 8.0
    cfg = compose_config(
        "train",
        [
            "experiment=unet_cpu_budget",
            f"callbacks.time_budget.minutes={budget_s / 60}",
            "model.depth=3",
            "model.width=8",
            "data.batch_size=8",
            "data.patch_size=32",
            "data.patches_per_epoch=100000",  # one epoch: the budget ends it
            "data.num_workers=0",
        ],
        tmp_path,
    )
    metrics = train(cfg)
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    state = next(v for k, v in ckpt["callbacks"].items() if "TimeBudget" in k)
    assert budget_s <= state["elapsed"] < budget_s + 5, "stopped within a step of the budget"
    assert ckpt["global_step"] > 3
    assert metrics["test/Set12/psnr"] > 0 and metrics["test/BSD68/psnr"] > 0
    rows = {r["set"]: r for r in read_csv(tmp_path / "test_metrics.csv")}
    assert set(rows) == {"Set12", "BSD68"}
    assert float(rows["Set12"]["input_psnr"]) == pytest.approx(20.37, abs=0.05)
