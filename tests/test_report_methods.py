"""restore.report over one eval multirun mixing Deep Image Prior and a trained checkpoint, and over
SR and inpainting runs: every method in one table and one grid, with every metric its task logs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from restore.report import make_report

from .conftest import FAST
from .test_train import run_cli


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_one_eval_multirun_puts_dip_and_a_checkpoint_in_one_table_and_grid(
    gray_dncnn_ckpt, tmp_path
):
    sweep = tmp_path / "sweep"
    result = run_cli(
        "restore.eval",
        "-m",
        f"ckpt_path=null,{gray_dncnn_ckpt}",
        "model=dip",  # the job without a checkpoint; the other keeps its DnCNN
        "model.max_steps=6",
        "model.input_depth=4",
        "model.generator.num_scales=2",
        "model.generator.num_channels_down=8",
        "model.generator.num_channels_up=8",
        "model.early_stopping.window=3",
        "data.test_crop=32",
        "trainer.accelerator=cpu",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = make_report([sweep], timing=True, timing_runs=1, crop=32)
    rows = rows_of(report.output / "report.csv")
    assert sorted(r["model"] for r in rows) == ["DnCNN", "dip"]  # the checkpoint's own model
    # the same seeded noisy crops for both: equal input PSNR, image by image
    inputs = {r["model"]: float(r["input_psnr"]) for r in rows}
    assert inputs["dip"] == pytest.approx(inputs["DnCNN"], abs=1e-6)
    by_model = {r["model"]: r for r in rows}
    assert by_model["DnCNN"]["inference_ms"] and not by_model["dip"]["inference_ms"]
    assert int(by_model["dip"]["params"]) > 0
    grid = report.grid
    assert grid is not None and len(grid.restored) == 2 and grid.box[2:] == (32, 32)
    assert len(grid.inputs) == 1  # one noisy input shared by both methods


@pytest.mark.slow
def test_sr_and_inpainting_metrics_and_grids_reach_the_report(tmp_path):
    common = [o for o in FAST if not o.startswith("model.")] + ["trainer.max_epochs=1"]
    runs = {
        "sr": ["task=sr", "model=edsr_baseline", "model.n_blocks=1", "model.width=8"],
        "inpaint": ["task=inpaint", "model=unet", "model.depth=2", "model.width=8"],
    }
    for name, overrides in runs.items():
        result = run_cli("restore.train", *common, *overrides, f"hydra.run.dir={tmp_path / name}")
        assert result.returncode == 0, result.stderr[-3000:]
    report = make_report([tmp_path / "sr", tmp_path / "inpaint"], timing=False, crop=64)
    rows = {r["run"].split("/")[0]: r for r in rows_of(report.output / "report.csv")}
    assert float(rows["sr"]["rgb_psnr"]) > 0 and not rows["sr"]["hole_psnr"]
    assert float(rows["inpaint"]["hole_psnr"]) > 0 and not rows["inpaint"]["rgb_psnr"]
    markdown = (report.output / "report.md").read_text()
    assert "rgb_psnr" in markdown and "hole_psnr" in markdown
    assert report.grid is not None and len(report.grid.restored) == 2, report.grid
