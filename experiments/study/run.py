"""The comparison study of issue #14, one command, resumable: every method on the same noisy inputs,
trained models at one training-time budget, reported by ``restore.report``.

    python experiments/study/run.py                  # everything, in order (hours on a 2-core CPU)
    python experiments/study/run.py --parts denoise --noises gaussian25
    python experiments/study/run.py --dry-run        # the commands, and which are done
    python experiments/study/run.py --report-only    # rewrite the reports from what has run
    python experiments/study/run.py --parts inpaint --only 'inpaint/dip_*'   # some jobs only
    python experiments/study/run.py --minutes 10 --override trainer=gpu --root outputs/study_gpu
        --out experiments/study_gpu                  # (one line) the study on a GPU, apart

Each job is one ``restore.train`` or ``restore.eval`` run in its own folder
``<root>/b<minutes>min/<part>/<job>``; a job whose folder holds ``test_metrics.csv`` is done and is
skipped on a rerun, an unfinished one (killed, failed) is started again from scratch. The jobs run
one at a time: the budget is wall-clock time, so two jobs sharing the cores would each get less.
After the jobs, the report of each group of jobs whose run folders are here (a noise column, the
SR part, the inpainting U-Net, the DIP generators: ``group_of``) is written to
``experiments/study/<part>/<group>/``, keeping the rows of the checked-in report whose run folders
are not here; each part's ``summary.md`` is written from all its groups' ``report.csv``; every
job's command, status and wall time goes to ``experiments/study/jobs.csv``.

Parts:
- ``denoise``: gray denoising, whole Set12 and BSD68 images (the published protocol): the trained
  models (``experiment=study_denoise``), BM3D, the reference rows of ``REFERENCES`` (the median
  filter for salt-and-pepper, the released DnCNN-S weights for sigma 25).
- ``crops``: the same methods and checkpoints on the centred ``--crop`` crops of Set12, with Deep
  Image Prior, which fits a network to each image and is too slow on the CPU for whole images.
- ``sr``: x4 super-resolution on Set5/Set14 (Y channel, border crop): bicubic, EDSR-baseline at the
  budget, DIP on centred crops with both others scored on the same crops.
- ``inpaint``: the Deep Image Prior paper's inpainting images and masks: a U-Net trained at the
  budget against DIP with the skip, U-Net, ResNet and SegNet generators.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from restore.reporting.runs import Run, read_csv

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "experiments" / "study"
SHARED = ROOT.parent / "shared"

# the noise of each column of the tables: Gaussian first at the paper's sigma, then the others
NOISES: dict[str, list[str]] = {
    "gaussian25": ["noise=gaussian", "noise.sigma=25"],
    "gaussian15": ["noise=gaussian", "noise.sigma=15"],
    "gaussian50": ["noise=gaussian", "noise.sigma=50"],
    "salt_pepper": ["noise=salt_pepper"],
    "uniform": ["noise=uniform"],
}
# the trained denoisers: the name in the tables -> the model config (EDSR as a denoiser is the
# baseline size: the full 43 M-parameter EDSR makes a few dozen steps in a CPU budget of minutes)
MODELS: dict[str, str] = {
    "dncnn": "dncnn",
    "unet": "unet",
    "vae": "vae",
    "cvt": "cvt",
    "pixelcnn": "pixelcnn",
    "edsr": "edsr_baseline",
    "ffdnet": "ffdnet",
}
DIP_GENERATORS = ("skip", "unet", "resnet", "segnet")
# the untrained reference rows of a noise column beside BM3D, which is in every column: the median
# filter for impulse noise (as BM3D for Gaussian), the released DnCNN-S weights where there are
# any (their experiment sets its own noise). A new reference row is one entry here.
REFERENCES: dict[str, dict[str, list[str]]] = {
    "salt_pepper": {"median": ["model=median", *NOISES["salt_pepper"]]},
    "gaussian25": {"released": ["experiment=dncnn_kair_s25"]},
}
PARTS = ("denoise", "crops", "sr", "inpaint")
JOB_COLUMNS = ("job", "status", "seconds", "command")  # of jobs.csv


@dataclass
class Job:
    part: str
    name: str
    module: str  # restore.train | restore.eval
    overrides: list[str]
    needs: list[str] = field(default_factory=list)  # jobs (part/name) whose checkpoint it scores

    @property
    def key(self) -> str:
        return f"{self.part}/{self.name}"


def best_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint a finished training run tested: its best (ModelCheckpoint's top-1)."""
    best = sorted((run_dir / "checkpoints").glob("epoch_*.ckpt"))
    return best[-1] if best else None


def plan(args: argparse.Namespace) -> list[Job]:
    """Every job of the chosen parts, in the order they run (sigma 25 first, then the others)."""
    budget = [f"callbacks.time_budget.minutes={args.minutes:g}"]
    dip = ["model=dip", f"model.max_steps={args.dip_steps}", f"model.patience={args.dip_patience}"]
    whole = ["data=denoise_gray"]
    crop = [*whole, f"data.test_crop={args.crop}", "~data.test_sets.BSD68"]
    jobs: list[Job] = []
    for noise in args.noises:
        nz = NOISES[noise]
        references = {"bm3d": ["model=bm3d", *nz], **REFERENCES.get(noise, {})}
        if "denoise" in args.parts:
            for m in args.models:
                ov = ["experiment=study_denoise", f"model={MODELS[m]}", *nz, *budget]
                jobs.append(Job("denoise", f"{m}_{noise}", "restore.train", ov))
            for ref, ov in references.items():
                jobs.append(Job("denoise", f"{ref}_{noise}", "restore.eval", [*ov, *whole]))
        if "crops" in args.parts:
            for m in args.models:
                jobs.append(
                    Job(
                        "crops",
                        f"{m}_{noise}",
                        "restore.eval",
                        [*crop],
                        needs=[f"denoise/{m}_{noise}"],
                    )
                )
            for ref, ov in references.items():
                jobs.append(Job("crops", f"{ref}_{noise}", "restore.eval", [*ov, *crop]))
            jobs.append(Job("crops", f"dip_{noise}", "restore.eval", [*dip, *crop, *nz]))
    if "sr" in args.parts:
        sr = ["task=sr", "task.scale=4", "data=sr_benchmarks"]
        sr_crop = [f"data.test_crop={args.sr_crop}"]
        jobs.append(
            Job("sr", "edsr_baseline_x4", "restore.train", ["experiment=study_sr_x4", *budget])
        )
        jobs.append(Job("sr", "bicubic_x4", "restore.eval", ["model=bicubic", *sr]))
        jobs.append(Job("sr", "bicubic_x4_crops", "restore.eval", ["model=bicubic", *sr, *sr_crop]))
        jobs.append(
            Job(
                "sr",
                "edsr_baseline_x4_crops",
                "restore.eval",
                [*sr_crop],
                needs=["sr/edsr_baseline_x4"],
            )
        )
        jobs.append(
            Job(
                "sr",
                "dip_x4_crops",
                "restore.eval",
                ["model=dip", *sr, *sr_crop, f"model.max_steps={args.dip_sr_steps}"],
            )
        )
    if "inpaint" in args.parts:
        ip_crop = [f"data.test_crop={args.inpaint_crop}"]
        jobs.append(Job("inpaint", "unet", "restore.train", ["experiment=study_inpaint", *budget]))
        jobs.append(
            Job(
                "inpaint",
                "unet_crops",
                "restore.eval",
                ["data=dip_inpainting", *ip_crop],
                needs=["inpaint/unet"],
            )
        )
        for g in DIP_GENERATORS:
            ov = ["model=dip", f"model/generator={g}", "task=inpaint", "data=dip_inpainting"]
            ov += [*ip_crop, f"model.max_steps={args.dip_inpaint_steps}"]
            jobs.append(Job("inpaint", f"dip_{g}_crops", "restore.eval", ov))
    if args.only:  # e.g. inpaint/dip_*: some jobs of a part, or one cell run again
        jobs = [j for j in jobs if any(fnmatch.fnmatchcase(j.key, pat) for pat in args.only)]
    return jobs


def out_dir(args: argparse.Namespace) -> Path:
    """Where the reports, summaries and ``jobs.csv`` go: ``--out``, else this folder."""
    return args.out if args.out is not None else HERE


def run_dir(args: argparse.Namespace, job: Job) -> Path:
    return args.root / f"b{args.minutes:g}min" / job.part / job.name


def is_done(path: Path) -> bool:
    return (path / "test_metrics.csv").is_file()


def command(args: argparse.Namespace, job: Job) -> list[str]:
    overrides = [*job.overrides, *args.override]
    for need in job.needs:
        ckpt = best_checkpoint(args.root / f"b{args.minutes:g}min" / need)
        overrides.append(f"ckpt_path={ckpt}" if ckpt else f"ckpt_path=<{need} not trained yet>")
    return [sys.executable, "-m", job.module, *overrides, f"hydra.run.dir={run_dir(args, job)}"]


def environment() -> dict[str, str]:
    """The data where ``restore-download`` puts it, else the project's shared folder beside it."""
    env = dict(os.environ)
    own = (ROOT / "data" / "Train400").is_dir()
    if "RESTORE_DATA_DIR" not in env and not own and (SHARED / "datasets" / "Train400").is_dir():
        env["RESTORE_DATA_DIR"] = str(SHARED / "datasets")
    if "RESTORE_WEIGHTS_DIR" not in env and (SHARED / "weights").is_dir():
        env["RESTORE_WEIGHTS_DIR"] = str(SHARED / "weights")
    return env


def run_jobs(args: argparse.Namespace, jobs: list[Job], table: Path | None = None) -> list[dict]:
    """Run the jobs not done yet; each finished job's record goes into ``table`` at once (a
    runner stopped mid-way keeps the times of the jobs it finished)."""
    env = environment()
    records = []
    logs = args.root / f"b{args.minutes:g}min" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for i, job in enumerate(jobs, 1):
        out = run_dir(args, job)
        cmd = command(args, job)
        shown = shlex.join(["python", *cmd[1:]]).replace(f"{ROOT}/", "")  # as run from ROOT
        prefix = f"[{i}/{len(jobs)}] {job.key}"
        if is_done(out):
            print(f"{prefix}: done", flush=True)
            records.append({"job": job.key, "status": "done", "seconds": "", "command": shown})
            continue
        missing = [
            n for n in job.needs if not best_checkpoint(args.root / f"b{args.minutes:g}min" / n)
        ]
        if args.dry_run or missing:
            why = f"waits for {', '.join(missing)}" if missing else "to run"
            print(f"{prefix}: {why}\n    {shown}", flush=True)
            records.append({"job": job.key, "status": why, "seconds": "", "command": shown})
            continue
        if out.exists():  # an unfinished run (killed or failed): start it again from scratch
            shutil.rmtree(out)
        start = time.monotonic()
        with open(logs / f"{job.part}_{job.name}.txt", "w") as log:
            rc = subprocess.run(
                cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            ).returncode
        seconds = time.monotonic() - start
        status = "ok" if rc == 0 and is_done(out) else f"failed (exit {rc})"
        print(f"{prefix}: {status}, {seconds / 60:.1f} min", flush=True)
        records.append(
            {"job": job.key, "status": status, "seconds": f"{seconds:.0f}", "command": shown}
        )
        if table is not None:
            write_jobs_csv(records[-1:], table)
    return records


def write_jobs_csv(records: list[dict], path: Path) -> None:
    """Merge this invocation's records into the study's job table (a rerun keeps earlier times)."""
    old = {r["job"]: r for r in read_csv(path, numbers=False)}
    for r in records:
        if r["status"] == "done" and r["job"] in old:
            continue  # keep the time it took when it ran
        old[r["job"]] = r
    _write_rows([{k: r.get(k, "") for k in JOB_COLUMNS} for r in old.values()], path)


def group_of(part: str, name: str) -> str:
    """The report a job belongs to: a noise column of the denoising parts, the SR part as one, the
    trained inpainting U-Net apart from the DIP generators. Each report is written by the run that
    makes its jobs, so a report never has to be rebuilt from run folders another machine holds."""
    if part in ("denoise", "crops"):
        return method_and_column(name, list(NOISES))[1]
    if part == "inpaint":
        return "unet" if name.startswith("unet") else "dip"
    return "x4"


def _write_rows(rows: list[dict], path: Path) -> None:
    """A CSV of the union of the rows' columns (in first-seen order), written beside ``path`` and
    renamed into place: a runner killed mid-write leaves the table whole. Here rather than in
    ``restore.reporting``, whose tables have fixed columns."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows({k: r.get(k, "") for k in names} for r in rows)
    tmp.replace(path)


def add_study_columns(part: str, path: Path, folder: Path, kept: list[dict], jobs: Path) -> None:
    """Complete a group's ``report.csv`` with what the summary needs, so that the summary is
    written from checked-in files alone: ``fit_s_per_mp`` for a method that fits each image (DIP),
    and for a scored checkpoint (``crops``) the ``steps`` and ``val_psnr_final`` of the training
    run that made it. ``kept`` rows (an earlier report's runs whose folders are not here) are
    appended as they were. ``jobs``: the study's ``jobs.csv``, where the fitting times are."""
    rows = read_csv(path, numbers=False)
    for r in rows:
        run = folder / r["run"]
        if r.get("status") == "ok" and not r.get("inference_s_per_mp"):
            fit = fitting_seconds_per_mp(part, run, jobs)
            r["fit_s_per_mp"] = f"{fit:.2f}" if fit is not None else ""
        trained = folder.parent / "denoise" / r["run"]  # the run that made a crops checkpoint
        if part == "crops" and not r.get("steps") and trained.is_dir():
            training = Run(path=trained, name=r["run"])
            steps, curve = training.train_steps(), training.val_curve()
            r["steps"] = str(steps) if steps is not None else ""
            r["val_psnr_final"] = f"{curve[-1][1]}" if curve else ""
    _write_rows(rows + kept, path)


def write_reports(args: argparse.Namespace) -> None:
    """Each group (see ``group_of``) of the chosen jobs whose run folders are here gets its report
    rewritten in ``experiments/study/<part>/<group>/``; then each part's ``summary.md`` is written
    from every group's ``report.csv``, checked in or new. A run that chose one column leaves the
    other columns' reports as they are (rewriting them would only re-time their inference)."""
    os.environ.update(environment())
    from restore.report import make_report

    chosen = {(j.part, group_of(j.part, j.name)) for j in plan(args)}
    study = out_dir(args)
    for part in args.parts:
        folder = args.root / f"b{args.minutes:g}min" / part
        found = sorted(p for p in folder.glob("*") if (p / ".hydra").is_dir())
        groups: dict[str, list[Path]] = {}
        for run in found:
            if (part, group := group_of(part, run.name)) in chosen:
                groups.setdefault(group, []).append(run)
        crop = {"crops": args.crop, "sr": args.sr_crop, "inpaint": args.inpaint_crop}.get(part, 128)
        for group, dirs in groups.items():
            out = study / part / group
            here = {d.name for d in dirs}
            kept = [r for r in read_csv(out / "report.csv", numbers=False) if r["run"] not in here]
            # the grid re-runs every method on the first test image as its runs read it: the DIP
            # generators' inpainting runs read 128x128 crops (minutes), while SR and the trained
            # inpainting U-Net's group hold runs on whole images, where DIP would fit a whole
            # Set5/DIP image (an hour on the CPU), so those two have none
            grid = part in ("denoise", "crops") or (part, group) == ("inpaint", "dip")
            report = make_report(dirs, out, crop=crop, grid=grid)
            add_study_columns(part, out / "report.csv", folder, kept, study / "jobs.csv")
            if kept:
                names = ", ".join(sorted({r["run"] for r in kept}))
                with open(out / "report.md", "a") as f:
                    f.write(
                        f"\nKept from the earlier `report.csv` (their run folders are not on the "
                        f"machine that wrote this report; the table, plots and grid above do not "
                        f"show them): {names}.\n"
                    )
            print(f"{part}/{group}: {len(report.runs)} runs -> {out / 'report.md'}", flush=True)
        summary = write_summary(part, study / part)
        if summary is not None:
            print(f"{part}: {summary}", flush=True)


def _float(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def fitting_seconds_per_mp(part: str, path: Path, jobs: Path) -> float | None:
    """Wall seconds of an evaluation job (``jobs``, the study's ``jobs.csv``) per megapixel it
    restored: the cost of a method that fits every image anew, whose forward pass
    ``restore.report`` cannot time."""
    per_image = path / "test_per_image.csv"
    if not jobs.is_file() or not per_image.is_file():
        return None
    seconds = {r["job"]: _float(r["seconds"]) for r in read_csv(jobs, numbers=False)}
    config = path / ".hydra" / "config.yaml"
    crop = OmegaConf.select(OmegaConf.load(config), "data.test_crop") if config.is_file() else None
    images = len(read_csv(per_image, numbers=False))
    job = seconds.get(f"{part}/{path.name}")
    if not job or not crop or not images:
        return None
    return job / (images * crop * crop / 1e6)


def method_and_column(run: str, columns: list[str]) -> tuple[str, str]:
    """``unet_gaussian25`` -> (``unet``, ``gaussian25``); a run named by no column is in the first
    (the inpainting U-Net, scored on whole images)."""
    for column in sorted(columns, key=len, reverse=True):  # x4_crops before x4
        if run.endswith("_" + column):
            return run[: -len(column) - 1], column
    return run, columns[0]


def summary_tables(part: str, rows: list[dict], columns: list[str]) -> str:
    """Methods x (column, test set) PSNR / SSIM, the noisy input as the first row; then what each
    method cost: parameters, steps in the budget, last validation PSNR, inference s/MP."""
    sets = list(dict.fromkeys(r["test_set"] for r in rows if r["test_set"]))
    cells: dict[tuple[str, str, str], str] = {}
    inputs: dict[tuple[str, str], str] = {}
    cost: dict[str, dict[str, str]] = {}
    per_column: dict[tuple[str, str], str] = {}  # a trained run's steps / last val PSNR
    for r in rows:
        method, column = method_and_column(r["run"], columns)
        if r["status"] != "ok":
            for test_set in sets:
                cells[(method, column, test_set)] = r["status"]
            continue
        psnr, ssim = _float(r["psnr"]), _float(r["ssim"])
        cells[(method, column, r["test_set"])] = f"{psnr:.2f} / {ssim:.4f}"
        inp, inp_ssim = _float(r["input_psnr"]), _float(r["input_ssim"])
        if inp is not None and inp_ssim is not None:
            inputs.setdefault((column, r["test_set"]), f"{inp:.2f} / {inp_ssim:.4f}")
        steps, val = _float(r.get("steps")), _float(r.get("val_psnr_final"))
        if steps is not None:
            shown = f"{val:.2f}" if val is not None else "-"
            per_column[(method, column)] = f"{steps:.0f} / {shown}"
        if column == columns[0] or method not in cost:
            # a method that fits each image (DIP): its job's wall time per megapixel
            spm = _float(r.get("inference_s_per_mp"))
            spm = spm if spm is not None else _float(r.get("fit_s_per_mp"))
            params = _float(r.get("params"))
            cost[method] = {
                "params": f"{params / 1e6:.3f} M" if params is not None else "-",
                "steps": f"{steps:.0f}" if steps is not None else "-",
                "val": f"{val:.2f}" if val is not None else "-",
                "s/MP": f"{spm:.2f}" if spm is not None else "-",
            }
    used = [c for c in columns if any(k[1] == c for k in cells)]
    # the trained models in the order of MODELS, then the references (BM3D, DIP, released)
    order = {name: i for i, name in enumerate(MODELS)}
    methods = sorted(dict.fromkeys(k[0] for k in cells), key=lambda m: (order.get(m, 99), m))
    head = ["method", *(f"{c} {t}" for c in used for t in sets)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    noisy = ["input (degraded)", *(inputs.get((c, t), "") for c in used for t in sets)]
    lines.append("| " + " | ".join(noisy) + " |")
    for m in methods:
        row = [m, *(cells.get((m, c, t), "not run") for c in used for t in sets)]
        lines.append("| " + " | ".join(row) + " |")
    out = [f"PSNR (dB) / SSIM, mean over the images of each set ({part}).", "", *lines, ""]
    out += [
        f"What each method cost (its `{columns[0]}` run where it has one): parameters, optimizer "
        "steps made in the budget, last validation PSNR, inference seconds per megapixel (CPU, "
        "float32, `restore.report`'s timing; for DIP, which fits each image, its job's wall "
        "time per megapixel restored).",
        "",
        "| method | params | steps | last val PSNR | inference s/MP |",
        "|---|---|---|---|---|",
    ]
    out += [
        f"| {m} | {c['params']} | {c['steps']} | {c['val']} | {c['s/MP']} |"
        for m, c in sorted(
            cost.items(), key=lambda mc: methods.index(mc[0]) if mc[0] in methods else 99
        )
    ]
    steps_columns = [c for c in used if any(k[1] == c for k in per_column)]
    if len(steps_columns) > 1:  # the budget is wall-clock: a slower machine makes fewer steps
        out += [
            "",
            "Optimizer steps made in the budget / last validation PSNR, per column. The budget is "
            "wall-clock minutes, so a column run on a slower machine made fewer steps.",
            "",
            "| method | " + " | ".join(steps_columns) + " |",
            "|" + "---|" * (len(steps_columns) + 1),
        ]
        trained = [m for m in methods if any((m, c) in per_column for c in steps_columns)]
        out += [
            f"| {m} | " + " | ".join(per_column.get((m, c), "-") for c in steps_columns) + " |"
            for m in trained
        ]
    return "\n".join(out) + "\n"


def write_summary(part: str, out: Path) -> Path | None:
    """``summary.md`` of a part from the ``report.csv`` of each of its groups. A run found in two
    groups' reports is taken from its own group (an older report may still hold it)."""
    rows: dict[tuple[str, str], dict] = {}
    for report in sorted(out.glob("*/report.csv")):
        for r in read_csv(report, numbers=False):
            key = (r["run"], r.get("test_set", ""))
            if group_of(part, r["run"]) == report.parent.name or key not in rows:
                rows[key] = r
    if not rows:
        return None
    columns = {"sr": ["x4", "x4_crops"], "inpaint": ["whole", "crops"]}.get(part, list(NOISES))
    path = out / "summary.md"
    path.write_text(summary_tables(part, list(rows.values()), columns))
    return path


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python experiments/study/run.py", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--minutes", type=float, default=2.0, help="training budget of each trained model"
    )
    p.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}"
    )
    p.add_argument("--noises", default=",".join(NOISES), help=f"of {', '.join(NOISES)}")
    p.add_argument("--models", default=",".join(MODELS), help=f"of {', '.join(MODELS)}")
    p.add_argument("--crop", type=int, default=64, help="side of the Set12 crops of the crops part")
    p.add_argument("--dip-steps", type=int, default=1200, help="DIP denoising iterations at most")
    p.add_argument("--dip-patience", type=int, default=400, help="DIP ES-WMV patience")
    p.add_argument("--sr-crop", type=int, default=96, help="side of the HR crops of the SR part")
    p.add_argument("--dip-sr-steps", type=int, default=1000, help="DIP x4 iterations")
    p.add_argument("--inpaint-crop", type=int, default=128, help="side of the inpainting crops")
    p.add_argument("--dip-inpaint-steps", type=int, default=2000, help="DIP inpainting iterations")
    p.add_argument("--root", type=Path, default=ROOT / "outputs" / "study", help="run folders")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the reports, summaries and jobs.csv (default: experiments/study/)",
    )
    p.add_argument(
        "--override",
        action="append",
        default=[],
        help="a Hydra override added to every job, e.g. trainer=gpu (repeatable)",
    )
    p.add_argument(
        "--only",
        default="",
        help="comma-separated patterns of the jobs to run, e.g. 'inpaint/dip_*' (default: all)",
    )
    p.add_argument("--dry-run", action="store_true", help="list the jobs, run nothing")
    p.add_argument("--report-only", action="store_true", help="only rewrite the reports")
    args = p.parse_args(argv)
    for key, known in (("parts", PARTS), ("noises", NOISES), ("models", MODELS)):
        values = [v for v in getattr(args, key).split(",") if v]
        bad = [v for v in values if v not in known]
        if bad:
            p.error(f"--{key}: unknown {', '.join(bad)}; choose from {', '.join(known)}")
        setattr(args, key, values)
    args.only = [v for v in args.only.split(",") if v]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not args.report_only:
        table = None if args.dry_run else out_dir(args) / "jobs.csv"
        records = run_jobs(args, plan(args), table)
        if table is not None:  # the skipped ones too (their earlier times are kept)
            write_jobs_csv(records, table)
    if not args.dry_run:
        write_reports(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
