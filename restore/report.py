"""Compare runs: ``python -m restore.report MULTIRUN_DIR [MORE_DIRS...] [--output DIR]``.

Collects every run below the given folders (a multirun's jobs, single runs), failed and
never-launched jobs included, and writes into the (first) multirun folder or ``--output``:

- ``report.csv`` and ``report.md``: one row per run and test set (model, degradation, PSNR, SSIM,
  input PSNR, parameters, train time, last validation PSNR and its training minutes, CPU inference
  time in ms and s per megapixel), one ``failed`` row per failed job with the last error line of
  its log; rows are labelled by the overrides that tell runs apart;
- ``psnr_bars.png`` (PSNR per test set per run), when ``noise.sigma`` was swept
  ``psnr_vs_sigma.png``, and, for training runs, ``psnr_vs_train_time.png`` (validation PSNR
  against training minutes, from each run's ``csv/metrics.csv``);
- ``grid_<set>_<image>.png``: one center crop of the first test image, restored by every model.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from restore.reporting.grids import Grid, GridBuilder
from restore.reporting.models import count_parameters, fits_each_image, run_task, time_inference
from restore.reporting.plots import psnr_bars, psnr_vs_sigma, psnr_vs_train_time
from restore.reporting.runs import Run, collect_runs
from restore.reporting.tables import markdown_report, result_rows, write_csv
from restore.utils.config import register_resolvers
from restore.utils.errors import RestoreError
from restore.utils.tables import markdown_table


@dataclass
class Report:
    output: Path
    runs: list[Run]
    rows: list[dict]
    files: dict[str, Path] = field(default_factory=dict)
    grid: Grid | None = None
    notes: list[str] = field(default_factory=list)


def _grid_source(runs: list[Run]) -> tuple[str, str | None] | None:
    """(test set, image) of the first test image of the first successful run."""
    for run in runs:
        if run.ok and run.metrics:
            test_set = str(run.metrics[0]["set"])
            images = [str(r["image"]) for r in run.per_image if str(r["set"]) == test_set]
            return test_set, images[0] if images else None
    return None


def _grid_markdown(grid: Grid, output: Path) -> str:
    top, left, h, w = grid.box
    lines = [
        f"![{grid.test_set}/{grid.image}]({grid.path.relative_to(output)})",
        "",
        f"`{grid.image}` of `{grid.test_set}`, rows {top}-{top + h}, columns {left}-{left + w}:"
        " PSNR of the whole image and of the crop.",
        "",
    ]
    panels = [[f"input {e.label}", e.psnr, e.crop_psnr] for e in grid.inputs]
    panels += [[f"`{e.label}`", e.psnr, e.crop_psnr] for e in grid.restored]
    lines.append(markdown_table(["panel", "PSNR", "crop PSNR"], panels, ["", ".2f", ".2f"]))
    lines += [f"- not in the grid: {s}" for s in grid.skipped]
    return "\n".join(lines)


def make_report(
    dirs: list[Path],
    output: Path | None = None,
    timing: bool = True,
    grid: bool = True,
    crop: int = 128,
    timing_size: int = 256,
    timing_runs: int = 5,
) -> Report:
    """Collect the runs below ``dirs`` and write the report files (see the module docstring)."""
    register_resolvers()  # run configs may name ${oc.env:PROJECT_ROOT} and the project's resolvers
    dirs = [Path(d) for d in dirs]
    runs, sweeps = collect_runs(dirs)
    out = Path(output) if output else (sweeps[0] if sweeps else dirs[0])
    out.mkdir(parents=True, exist_ok=True)
    report = Report(output=out, runs=runs, rows=[])

    source = _grid_source(runs) if grid else None
    builder: GridBuilder | None = None
    problems = []
    # rebuilding, timing and gridding each model takes seconds: a bar where stderr is a terminal
    for run in tqdm(runs, desc="report", unit="run", leave=False, disable=None, dynamic_ncols=True):
        if not run.ok:
            continue
        try:
            task, cfg = run_task(run.checkpoint, run.config)
        except Exception as err:  # one unloadable run must not stop the report of the others
            err = err.__cause__ or err  # Hydra's InstantiationException wraps the real error
            where = run.checkpoint or "its config"
            problems.append(f"{run.name}: cannot rebuild the model from {where}: {err}")
            continue
        run.params = count_parameters(task, int(cfg.data.channels))
        if timing and fits_each_image(task):
            problems.append(f"{run.name}: {run.model} fits each image, no forward pass to time")
        elif timing:
            channels = int(cfg.data.channels)
            run.inference_ms = time_inference(task, channels, timing_size, timing_runs)
            run.inference_s_per_mp = run.inference_ms / 1000 / (timing_size**2 / 1e6)
        if source is not None and builder is None:
            try:
                builder = GridBuilder(cfg, *source, crop=crop)
            except Exception as err:  # e.g. the test images are not on this machine
                problems.append(f"no image grid: cannot read {source[1]} of {source[0]}: {err}")
                source = None
        if builder is not None:
            try:
                builder.add(run.label, run.degradation, task, cfg)
            except Exception as err:  # one model that cannot run must not stop the others
                builder.skipped.append(f"{run.label}: {err}")
        del task

    notes = [
        "PSNR/SSIM: the runs' own test_metrics.csv (8-bit outputs, mean over images); "
        "gain = PSNR - input PSNR.",
        "params: trainable parameters of the network rebuilt from the tested checkpoint.",
        "train time: seconds from the job's start (.hydra/overrides.yaml written) to "
        "checkpoints/last.ckpt (data loading, fitting and validation; no testing), from the files' "
        "modification times; where no last.ckpt was kept, first to last line of the job log "
        "(whole job). report.csv names the source per run (train_time_source).",
        "steps (report.csv): optimizer steps the run made (its last training row in "
        "csv/metrics.csv); empty for an evaluation.",
        "val_psnr_final, train_min_final (report.csv): the last validation in the run's "
        "csv/metrics.csv, at its training minutes (validation excluded, TrainClock).",
    ]
    if timing:
        notes.append(
            f"inference: median of {timing_runs} restorations (after one warm-up) of one "
            f"C x {timing_size} x {timing_size} image as the task observes it (SR: from its "
            f"1/scale downscale), float32 on the CPU ({torch.get_num_threads()} threads); s/MP: "
            f"seconds per megapixel of the restored image (ms / 1000 / "
            f"{timing_size**2 / 1e6:.4f} MP)."
        )
    else:
        notes.append("inference: not timed (--no-timing).")
    notes += problems

    report.rows = result_rows(runs)
    write_csv(report.rows, out / "report.csv")
    report.files["csv"] = out / "report.csv"

    figures: dict[str, str] = {}
    for key, title, fn in (
        ("psnr_bars", "PSNR per test set", psnr_bars),
        ("psnr_vs_sigma", "PSNR vs noise sigma", psnr_vs_sigma),
        ("psnr_vs_train_time", "Validation PSNR against training minutes", psnr_vs_train_time),
    ):
        path = fn(runs, out / f"{key}.png")
        if path is not None:
            report.files[key] = path
            figures[title] = path.name

    grid_md = None
    if builder is not None:
        name = f"grid_{builder.test_set}_{builder.image}.png".replace("/", "_")
        report.grid = builder.save(out / name)
        if report.grid is not None:
            report.files["grid"] = report.grid.path
            grid_md = _grid_markdown(report.grid, out)

    optuna = [
        (s, OmegaConf.to_container(OmegaConf.load(s / "optimization_results.yaml")))
        for s in sweeps
        if (s / "optimization_results.yaml").is_file()
    ]
    md = markdown_report(runs, report.rows, dirs, notes, figures, grid_md, optuna)
    (out / "report.md").write_text(md)
    report.files["md"] = out / "report.md"
    report.notes = notes
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m restore.report",
        description="Compare the runs of Hydra run/multirun folders: table, plots, image grid.",
    )
    parser.add_argument("dirs", nargs="+", type=Path, help="run or multirun output folders")
    parser.add_argument("--output", type=Path, help="where to write (default: the multirun folder)")
    parser.add_argument("--no-timing", action="store_true", help="skip CPU inference timing")
    parser.add_argument("--no-grid", action="store_true", help="skip the image grid")
    parser.add_argument("--crop", type=int, default=128, help="side of the grid's crop (pixels)")
    args = parser.parse_args(argv)
    try:
        report = make_report(
            args.dirs, args.output, timing=not args.no_timing, grid=not args.no_grid, crop=args.crop
        )
    except RestoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    counts: dict[str, int] = {}
    for run in report.runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    print(f"{len(report.runs)} runs ({summary}); wrote:")
    for path in report.files.values():
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
