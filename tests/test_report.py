"""restore.report on a real multirun: 2 noise levels x 2 patch sizes, the 4096 ones failing."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from PIL import Image

from restore.archs import DnCNN
from restore.report import main, make_report
from restore.reporting.plots import psnr_vs_train_time
from restore.reporting.runs import Run, collect_runs, read_log, read_run
from restore.reporting.tables import result_rows

from .conftest import FAST
from .test_train import run_cli

JOB_LOG = "++hydra.callbacks.job_log._target_=restore.reporting.callbacks.JobLog"


def fast(*drop: str) -> list[str]:
    return [o for o in FAST if o.split("=")[0] not in drop]


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def job_overrides(run_dir: Path) -> list[str]:
    return list(OmegaConf.load(run_dir / ".hydra" / "overrides.yaml"))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep")
    result = run_cli(
        "restore.train",
        "-m",
        *fast("data.patch_size"),
        "trainer.max_epochs=1",
        "data.patches_per_epoch=16",
        "noise.sigma=15,25",
        "data.patch_size=32,4096",  # 4096 > every training image: those jobs raise
        JOB_LOG,
        f"hydra.sweep.dir={out}",
    )
    # the basic launcher runs every job, then re-raises the first failure
    assert result.returncode != 0
    assert "data.patch_size=4096 is larger" in result.stderr, result.stderr[-3000:]
    jobs = sorted(p for p in out.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(jobs) == 4
    assert sum((j / "test_metrics.csv").is_file() for j in jobs) == 2
    return out


@pytest.fixture(scope="module")
def report(sweep):
    return make_report([sweep], timing=True, timing_runs=3)


@pytest.mark.slow
def test_table_has_every_run_and_the_failed_ones_with_their_error(sweep, report):
    assert report.output == sweep
    rows = rows_of(sweep / "report.csv")
    assert len(rows) == 4  # 2 runs x 1 test set + 2 failed runs
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(ok) == 2 and len(failed) == 2
    expected_params = sum(p.numel() for p in DnCNN(1, 1, depth=4, width=16).parameters())
    for row in ok:
        # labelled by the overrides that differ between jobs
        assert "data.patch_size=32" in row["label"] and "noise.sigma=" in row["label"]
        assert row["model"] == "dncnn"
        assert row["degradation"] == f"gaussian(sigma={int(float(row['sigma']))})"
        assert row["test_set"] == "embedded"
        run_dir = sweep / row["run"]
        tested = rows_of(run_dir / "test_metrics.csv")[0]
        for key in ("psnr", "ssim", "input_psnr"):
            assert float(row[key]) == pytest.approx(float(tested[key]))
        assert int(row["params"]) == expected_params
        assert row["train_time_source"] == "files"
        assert 0 < float(row["train_time_s"]) < 600
        assert 0 < float(row["inference_ms"]) < 10_000
        megapixels = 256 * 256 / 1e6  # make_report's default timing_size
        s_per_mp = float(row["inference_ms"]) / 1000 / megapixels
        assert float(row["inference_s_per_mp"]) == pytest.approx(s_per_mp)
        validated = [r for r in rows_of(run_dir / "csv" / "metrics.csv") if r["val/psnr"]]
        assert len(validated) == 1  # one epoch, one validation
        assert float(row["val_psnr_final"]) == pytest.approx(float(validated[-1]["val/psnr"]))
        assert float(row["train_min_final"]) == pytest.approx(
            float(validated[-1]["time/train_min"])
        )
        assert 0 < float(row["train_min_final"]) < float(row["train_time_s"]) / 60
        trained = [
            int(r["step"]) for r in rows_of(run_dir / "csv" / "metrics.csv") if r.get("train/loss")
        ]
        assert row["steps"] == (str(max(trained) + 1) if trained else "")
        assert Path(row["checkpoint"]).parent == run_dir / "checkpoints"
    for row in failed:
        assert "data.patch_size=4096" in row["label"]
        assert row["error"].startswith("DataError: data.patch_size=4096 is larger than")
        assert row["psnr"] == "" and row["params"] == ""
        assert row["val_psnr_final"] == row["inference_s_per_mp"] == ""
    # the noisier input is the worse one, by about 20*log10(25/15) dB
    by_sigma = {float(r["sigma"]): float(r["input_psnr"]) for r in ok}
    assert by_sigma[15] - by_sigma[25] == pytest.approx(20 * math.log10(25 / 15), abs=0.5)

    md = (sweep / "report.md").read_text()
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| run | label |"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    table = lines[start:end]
    assert len(table) == 2 + 4  # header, rule, rows
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert "inference s/MP" in header and "inference ms" not in header
    for row in ok:
        line = next(line for line in table if line.startswith(f"| {row['run']} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[header.index("inference s/MP")] == f"{float(row['inference_s_per_mp']):.2f}"
    failed_lines = [line for line in table if "failed: DataError: data.patch_size=4096" in line]
    assert len(failed_lines) == 2
    assert all("data.patch_size=4096" in line for line in failed_lines)
    assert "2 ok, 2 failed" in md
    assert "Overrides common to all runs" in md and "model.width=16" in md


@pytest.mark.slow
def test_plots_and_the_grid_of_one_crop_restored_by_every_model(sweep, report):
    for key in ("psnr_bars", "psnr_vs_sigma", "psnr_vs_train_time", "grid"):
        path = report.files[key]
        assert path.parent == sweep
        with Image.open(path) as image:
            assert image.width > 200 and image.height > 150
        assert f"]({path.name})" in (sweep / "report.md").read_text()
    grid = report.grid
    assert (grid.test_set, grid.image) == ("embedded", "camera")
    assert grid.box[2:] == (128, 128)
    assert len(grid.restored) == 2
    # re-running each model on the seeded noisy input reproduces its test score on that image
    for entry in grid.restored:
        run = next(r for r in report.runs if r.label == entry.label)
        camera = next(r for r in rows_of(run.path / "test_per_image.csv") if r["image"] == "camera")
        assert entry.psnr == pytest.approx(float(camera["psnr"]), abs=0.01)
    # one input per noise level, at the PSNR of that sigma (8-bit, clipped: slightly above)
    assert len(grid.inputs) == 2
    for entry in grid.inputs:
        sigma = 15 if "sigma=15" in entry.label else 25
        assert 0 < entry.psnr - 20 * math.log10(255 / sigma) < 0.6


@pytest.mark.slow
def test_jobs_the_sweep_never_launched_are_listed(sweep, tmp_path):
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    gone = next(
        p
        for p in copy.iterdir()
        if p.name.isdigit()
        and "noise.sigma=25" in job_overrides(p)
        and "data.patch_size=4096" in job_overrides(p)
    )
    shutil.rmtree(gone)
    runs, sweeps = collect_runs([copy])
    assert sweeps == [copy]
    missing = [r for r in runs if r.status == "not run"]
    assert len(missing) == 1 and missing[0].job == int(gone.name)
    assert {"noise.sigma=25", "data.patch_size=4096"} <= set(missing[0].overrides)
    assert [r.job for r in runs] == [0, 1, 2, 3]


@pytest.mark.slow
def test_cli_writes_to_output_without_timing(sweep, tmp_path, capsys):
    assert main([str(sweep), "--output", str(tmp_path), "--no-timing", "--no-grid"]) == 0
    assert "4 runs (2 ok, 2 failed)" in capsys.readouterr().out
    rows = rows_of(tmp_path / "report.csv")
    assert len(rows) == 4 and all(r["inference_ms"] == r["inference_s_per_mp"] == "" for r in rows)
    assert all(int(r["params"]) > 0 for r in rows if r["status"] == "ok")
    assert "not timed" in (tmp_path / "report.md").read_text()
    assert not list(tmp_path.glob("grid_*.png"))


def test_cli_names_a_missing_folder(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 1
    assert "holds no run" in capsys.readouterr().err


def _run_dir(tmp_path: Path, log: str | None) -> Path:
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("noise:\n  _target_: x.GaussianNoise\n  sigma: 5\n")
    (run / ".hydra" / "overrides.yaml").write_text("- noise.sigma=5\n")
    if log is not None:
        (run / "train.log").write_text(log)
    return run


@pytest.mark.parametrize(
    ("log", "error"),
    [
        (  # restore.utils.cli.clean_errors' one line for user errors
            "[2026-01-01 10:00:00,000][restore.train][INFO] - start\n"
            "[2026-01-01 10:00:01,500][restore][ERROR] - data.root /x does not exist\n",
            "data.root /x does not exist",
        ),
        (  # JobLog's line, then the traceback
            "[2026-01-01 10:00:00,000][restore.job][INFO] - job started\n"
            "[2026-01-01 10:00:02,000][restore.job][ERROR] - job failed: KeyError: 'x'\n"
            "Traceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'x'\n",
            "KeyError: 'x'",
        ),
        (  # no ERROR line: the tail of a printed traceback
            "[2026-01-01 10:00:00,000][restore.train][INFO] - start\n"
            'Traceback (most recent call last):\n  File "a.py", line 1\n'
            "torch.OutOfMemoryError: CUDA out of memory\n",
            "torch.OutOfMemoryError: CUDA out of memory",
        ),
        ("", "no test_metrics.csv, and the log holds no error"),
        (None, "no test_metrics.csv, and the log holds no error"),
    ],
)
def test_failed_run_error_is_the_last_error_line_of_its_log(tmp_path, log, error):
    run = read_run(_run_dir(tmp_path, log), "run")
    assert run.status == "failed"
    assert run.error == error
    assert run.degradation == "GaussianNoise(sigma=5)"
    times, _ = read_log(run.path)
    if len(times) >= 2:
        assert run.train_time_source == "log"
        assert run.train_time_s == pytest.approx((times[-1] - times[0]).total_seconds())
        assert run.train_time_s in (1.5, 2.0)
    else:
        assert run.train_time_s is None


# sparse rows as Lightning's CSVLogger writes them; the run was killed after step 19's validation
# and resumed from step 9's checkpoint, logging step 19 again; step 39's two keys came apart
METRICS = """epoch,lr-Adam,step,test/embedded/psnr,time/train_min,val/psnr
,0.001,0,,,
0,,9,,0.5,20.0
,0.001,10,,,
1,,19,,1.0,21.0
1,,19,,1.1,21.5
2,,29,,1.6,22.0
3,,39,,2.1,
3,,39,,,22.5
4,,49,,,23.0
4,,50,24.0,,
"""


def test_val_curve_merges_sparse_rows_and_keeps_a_resumed_steps_last_values(tmp_path):
    run = Run(path=tmp_path / "run", name="run")
    assert run.val_curve() == []  # no csv/metrics.csv: an evaluation run
    assert psnr_vs_train_time([run], tmp_path / "none.png") is None
    (run.path / "csv").mkdir(parents=True)
    (run.path / "csv" / "metrics.csv").write_text(METRICS)
    # step 49 validated with no training minutes (TrainClock off): no point
    assert run.val_curve() == [(0.5, 20.0), (1.1, 21.5), (1.6, 22.0), (2.1, 22.5)]
    path = psnr_vs_train_time([run], tmp_path / "curve.png")
    assert path == tmp_path / "curve.png"
    with Image.open(path) as image:
        assert image.width > 200 and image.height > 150
    run.status = "failed"  # only successful runs are drawn; the table tells how far it got
    assert psnr_vs_train_time([run], tmp_path / "failed.png") is None
    [row] = result_rows([run])
    assert (row["train_min_final"], row["val_psnr_final"]) == (2.1, 22.5)


def test_inference_is_timed_as_the_task_scores_it():
    # the inpainting network takes the mask as a fourth channel and SR restores from the
    # downscale: timing a bare 3-channel image of the output size failed for both
    from torch import nn

    from restore.archs import DnCNN
    from restore.archs.bicubic import Bicubic
    from restore.degradations import StrokeMask
    from restore.degradations.resize import BicubicDownsample
    from restore.reporting.models import time_inference
    from restore.tasks import InpaintTask, SRTask

    seen = []

    def record(module, args):
        seen.append(tuple(args[0].shape))

    net = DnCNN(4, 3, depth=2, width=8, residual=False)
    net.register_forward_pre_hook(record)
    inpaint = InpaintTask(net, nn.L1Loss(), StrokeMask())
    assert time_inference(inpaint, 3, size=32, runs=2) > 0
    assert seen == [(1, 4, 32, 32)] * 3  # the image and its mask; warm-up and two timed runs
    seen.clear()
    up = Bicubic(scale=2)
    up.register_forward_pre_hook(record)
    sr = SRTask(up, nn.L1Loss(), BicubicDownsample(scale=2), scale=2)
    assert time_inference(sr, 3, size=32, runs=1) > 0
    assert seen == [(1, 3, 16, 16)] * 2  # restored from the 1/scale downscale to 32 x 32


def test_train_steps_is_the_last_training_row_and_none_for_an_evaluation(tmp_path):
    run = Run(path=tmp_path / "run", name="run")
    assert run.train_steps() is None  # no csv/metrics.csv
    (run.path / "csv").mkdir(parents=True)
    (run.path / "csv" / "metrics.csv").write_text(
        "epoch,step,train/loss,val/psnr\n0,9,0.5,\n0,19,0.4,\n0,19,,21.0\n0,25,,22.0\n"
    )
    assert run.train_steps() == 20  # step 19 was the last logged training step (0-based)
    (run.path / "csv" / "metrics.csv").write_text("epoch,step,test/Set12/psnr\n0,0,30.1\n")
    assert run.train_steps() is None  # an evaluation logs its test at step 0


def test_runs_given_by_their_own_folders_are_named_by_them(tmp_path):
    for name in ("unet_gaussian15", "bm3d_gaussian15"):
        (tmp_path / name / ".hydra").mkdir(parents=True)
        (tmp_path / name / ".hydra" / "config.yaml").write_text("model: {}\n")
        (tmp_path / name / ".hydra" / "overrides.yaml").write_text(f"- model={name[:4]}\n")
    runs, _ = collect_runs([tmp_path / "unet_gaussian15", tmp_path / "bm3d_gaussian15"])
    assert sorted(r.name for r in runs) == ["bm3d_gaussian15", "unet_gaussian15"]


def test_the_grid_gives_every_model_the_test_sets_own_mask(tmp_path):
    """An inpainting test set with its own masks (Deep Image Prior's layout): the grid's input is
    the image with that mask's holes, as the test scored it, not the run's random strokes."""
    import numpy as np
    import torch
    from torch import nn

    from restore.degradations import StrokeMask
    from restore.reporting.grids import GridBuilder
    from restore.tasks import InpaintTask
    from tests.tasks.test_inpaint import Constant

    folder = tmp_path / "inpainting"
    rng = np.random.RandomState(0)
    folder.mkdir()
    Image.fromarray(rng.randint(1, 256, (24, 32, 3), dtype=np.uint8)).save(folder / "im0.png")
    mask = np.full((24, 32), 255, np.uint8)
    mask[5:15, 8:20] = 0
    Image.fromarray(mask, "L").save(folder / "im0_mask.png")
    data = {"_target_": "restore.data.RestorationDataModule", "layout": None, "channels": 3}
    data |= {"test_sets": {"DIP": str(folder)}, "test_crop": 16, "eval_seed": 0}
    cfg = OmegaConf.create({"data": data})
    builder = GridBuilder(cfg, "DIP", None, crop=16)
    task = InpaintTask(net=Constant(0.25), loss=nn.L1Loss(), degradation=StrokeMask())
    builder.add("constant", "mask_strokes(...)", task, cfg)
    (entry,) = builder.inputs
    assert entry.label == "the DIP set's own mask"
    known = torch.from_numpy(mask[4:20, 8:24] > 127)
    degraded = builder.panels[1][1][0]  # clean, input, restored; (C, H, W) of the 16x16 crop
    assert (degraded[:, ~known] == 0).all() and (degraded[:, known] > 0).any()
    restored = builder.panels[2][1][0]
    assert torch.allclose(restored[:, ~known], torch.tensor(64 / 255), atol=1 / 255)
