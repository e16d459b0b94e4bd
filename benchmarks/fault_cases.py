"""Re-run the fault and bad-input cases of issue #17 and write their outcomes as a table.

    python benchmarks/fault_cases.py [--output experiments/results/fault_cases.md]

Each case runs the real command line in a subprocess (tiny models, a few seconds each) and is
judged by what a user sees: the exit code, whether stderr holds a traceback, the last line of
stderr, and what is left on disk. The tests (tests/test_faults.py, tests/test_errors.py,
tests/test_slurm.py) assert the same behaviour; this is the table for humans, re-runnable.
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "trainer.accelerator=cpu", "data.patch_size=32", "data.batch_size=4", "data.val_crop=32",
    "model.depth=4", "model.width=8", "logger=csv", "callbacks.image_samples=null",
]  # fmt: skip
ENV = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore", "HYDRA_FULL_ERROR": ""}


@dataclass
class Outcome:
    code: int
    stderr: str

    @property
    def last(self) -> str:
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        return lines[-1] if lines else ""

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.stderr


def run(module: str, *args: str, timeout: int = 600) -> Outcome:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return Outcome(done.returncode, done.stderr)


def start(run_dir: Path, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "restore.train", *SMALL, "data.patches_per_epoch=100000",
         f"hydra.run.dir={run_dir}", *args],
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    log = run_dir / "train.log"
    deadline = time.monotonic() + 300
    while not (log.is_file() and "and stop" in log.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(proc.stderr.read())
        time.sleep(0.5)
    time.sleep(3)
    return proc


def step_of(ckpt: Path) -> int:
    return int(torch.load(ckpt, weights_only=False)["global_step"])


CASES: list[tuple[str, Callable[[Path], tuple[str, bool]]]] = []


def case(name: str):
    def register(fn):
        CASES.append((name, fn))
        return fn

    return register


@case("SIGTERM mid-run")
def _sigterm(tmp: Path):
    proc = start(tmp / "run")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    last = tmp / "run" / "checkpoints" / "last.ckpt"
    ok = proc.returncode == 143 and last.is_file()
    return f"exit {proc.returncode}; {Outcome(0, err).last}", ok


@case("SIGUSR1 mid-run, then resume: no metrics.csv row twice")
def _sigusr1(tmp: Path):
    proc = start(tmp / "run", "trainer.log_every_n_steps=1")
    proc.send_signal(signal.SIGUSR1)
    proc.communicate(timeout=300)
    last = tmp / "run" / "checkpoints" / "last.ckpt"
    step = step_of(last)
    resumed = run(
        "restore.train", *SMALL, "data.patches_per_epoch=100000", f"hydra.run.dir={tmp / 'run'}",
        f"ckpt_path={last}", f"trainer.max_steps={step + 3}", "trainer.log_every_n_steps=1",
        "test=false",
    )  # fmt: skip
    with open(tmp / "run" / "csv" / "metrics.csv", newline="") as f:
        steps = [r["step"] for r in csv.DictReader(f) if r.get("train/loss")]
    ok = proc.returncode == 138 and resumed.code == 0 and len(steps) == len(set(steps))
    return (
        f"exit {proc.returncode} at step {step}; resumed to {step_of(last)}; "
        f"{len(steps)} train rows, {len(steps) - len(set(steps))} twice"
    ), ok


@case("kill -9 mid-run, then ckpt_path=last")
def _kill9(tmp: Path):
    proc = start(tmp / "run", "data.patches_per_epoch=64")
    time.sleep(8)  # past an epoch end, so a checkpoint exists
    proc.kill()
    proc.communicate()
    last = tmp / "run" / "checkpoints" / "last.ckpt"
    saved = step_of(last)
    resumed = run(
        "restore.train", *SMALL, "data.patches_per_epoch=64", f"hydra.run.dir={tmp / 'run'}",
        "ckpt_path=last", "trainer.max_epochs=1000", f"trainer.max_steps={saved + 10}",
        "test=false",
    )  # fmt: skip
    ok = (
        resumed.code == 0
        and step_of(last) == saved + 10
        and "Restored all states" in (resumed.stderr)
    )
    return f"saved at step {saved}; resumed (stale lock taken): exit {resumed.code}, " + (
        f"ends at step {step_of(last)}"
    ), ok


@case("two runs in one hydra.run.dir")
def _two_runs(tmp: Path):
    first = start(tmp / "run")
    second = run("restore.train", *SMALL, f"hydra.run.dir={tmp / 'run'}")
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=300)
    ok = second.code == 1 and "is in use by process" in second.last and not second.traceback
    return second.last, ok


def _one_line(outcome: Outcome, fragment: str) -> tuple[str, bool]:
    """Judged on the line that holds ``fragment`` (the last line unless Hydra adds its hint)."""
    hint = "Set the environment variable HYDRA_FULL_ERROR"
    lines = [line for line in outcome.stderr.splitlines() if line.strip() and hint not in line]
    line = next((x for x in reversed(lines) if fragment in x), lines[-1] if lines else "")
    ok = outcome.code != 0 and not outcome.traceback and fragment in line
    return f"exit {outcome.code}; {line}", ok


@case("divergence (optimizer.lr=1e9)")
def _diverge(tmp: Path):
    return _one_line(
        run("restore.train", *SMALL, "optimizer.lr=1e9", f"hydra.run.dir={tmp}/run"),
        "training diverged: non-finite",
    )


@case("optimizer.lr=abc")
def _lr(tmp: Path):
    return _one_line(run("restore.train", "optimizer.lr=abc", f"hydra.run.dir={tmp}/r"), "lr")


@case("noise.sigma=-5")
def _sigma(tmp: Path):
    out = run("restore.train", "noise.sigma=-5", f"hydra.run.dir={tmp}/r")
    return _one_line(out, "noise.sigma must be >= 0")


@case("training image smaller than the patch")
def _patch(tmp: Path):
    (tmp / "d" / "train").mkdir(parents=True)
    Image.new("L", (20, 24)).save(tmp / "d" / "train" / "tiny.png")
    Image.new("L", (80, 80)).save(tmp / "d" / "train" / "big.png")
    out = run("restore.train", "data=folder", f"data.layout.root={tmp / 'd'}", *SMALL,
              f"hydra.run.dir={tmp}/r")  # fmt: skip
    return _one_line(out, "tiny.png")


def _checkpoint(tmp: Path) -> Path:
    run("restore.train", *SMALL, "data.patches_per_epoch=16", "trainer.max_epochs=1",
        "test=false", f"hydra.run.dir={tmp / 'good'}")  # fmt: skip
    return tmp / "good" / "checkpoints" / "last.ckpt"


@case("resume from a truncated checkpoint")
def _truncated(tmp: Path):
    good = _checkpoint(tmp)
    bad = good.parent / "cut.ckpt"
    bad.write_bytes(good.read_bytes()[:5000])
    out = run("restore.train", *SMALL, f"ckpt_path={bad}", f"hydra.run.dir={tmp}/r")
    return _one_line(out, "checkpoints beside it")


class _Payload:
    def __reduce__(self):
        return (print, ("PAYLOAD RAN",))


@case("resume from an untrusted checkpoint (a pickle that runs code)")
def _untrusted(tmp: Path):
    good = _checkpoint(tmp)
    bad = good.parent / "evil.ckpt"
    torch.save({"state_dict": {}, "x": _Payload()}, bad)
    out = run("restore.train", *SMALL, f"ckpt_path={bad}", f"hydra.run.dir={tmp}/r")
    text, ok = _one_line(out, "not a plain checkpoint")
    return text, ok and "PAYLOAD RAN" not in out.stderr


@case("predict output= under a regular file")
def _predict(tmp: Path):
    good = _checkpoint(tmp)
    Image.new("L", (48, 48)).save(tmp / "in.png")
    (tmp / "file").write_text("")
    out = run("restore.predict", f"ckpt_path={good}", f"input={tmp / 'in.png'}",
              f"output={tmp / 'file' / 'out'}")  # fmt: skip
    return _one_line(out, "output")


@case("hydra.run.dir under a regular file")
def _rundir_file(tmp: Path):
    (tmp / "file").write_text("")
    out = run("restore.train", f"hydra.run.dir={tmp / 'file' / 'run'}")
    return _one_line(out, "hydra.run.dir")


@case("hydra.run.dir under /proc")
def _rundir_proc(tmp: Path):
    return _one_line(run("restore.train", "hydra.run.dir=/proc/nope/run"), "hydra.run.dir")


@case("unknown option (model=nosuchnet)")
def _unknown(tmp: Path):
    return _one_line(run("restore.train", "model=nosuchnet"), "nosuchnet")


@case("missing data folder")
def _missing(tmp: Path):
    out = run("restore.train", "data=folder", "data.layout.root=/no/such/photos",
              f"hydra.run.dir={tmp}/r")  # fmt: skip
    return _one_line(out, "/no/such/photos")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(ROOT / "experiments/results/fault_cases.md"))
    parser.add_argument("--only", nargs="*", help="substrings of case names")
    args = parser.parse_args()
    rows = []
    for name, fn in CASES:
        if args.only and not any(s in name for s in args.only):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                text, ok = fn(Path(tmp))
            except Exception as err:  # a case that crashed the harness is a failed case
                text, ok = f"{type(err).__name__}: {err}", False
        print(f"{'pass' if ok else 'FAIL'}  {name}: {text}", flush=True)
        rows.append((name, "pass" if ok else "FAIL", text.replace("|", "\\|")))
    lines = ["| case | outcome | what the user sees |", "|---|---|---|"]
    lines += [f"| {n} | {o} | {t} |" for n, o, t in rows]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}: {sum(o == 'pass' for _, o, _ in rows)}/{len(rows)} pass")


if __name__ == "__main__":
    main()
