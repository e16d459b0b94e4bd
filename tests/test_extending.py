"""docs/extending.md runs: its four recipes are written out and trained exactly as the page says.

Every fenced block whose first line is ``# <path>`` is written to that path under a temporary
folder; every ``bash`` block is run there, each ``python -m restore.train`` with short training
settings appended. The new degradation is then held to the contract of every ``noise`` member.
"""

from __future__ import annotations

import csv
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from restore.utils.config import PROJECT_ROOT
from tests.degradations import test_contract

PAGE = PROJECT_ROOT / "docs" / "extending.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
FAST = (
    "+trainer.fast_dev_run=2 trainer.accelerator=cpu data.num_workers=0 logger=csv "
    "data.batch_size=4 data.patch_size=32 data.val_crop=32 callbacks.image_samples=null"
)


def blocks() -> list[tuple[str, str]]:
    return [(lang, body) for lang, body in FENCE.findall(PAGE.read_text())]


def files() -> dict[str, str]:
    """path -> contents of every block headed by its file name."""
    out = {}
    for _, body in blocks():
        first, _, rest = body.partition("\n")
        if first.startswith("# ") and first.endswith((".py", ".yaml")):
            out[first[2:].strip()] = rest
    return out


def commands() -> list[str]:
    return [line for lang, body in blocks() if lang == "bash" for line in body.splitlines()]


def trainings() -> list[str]:
    return [c for c in commands() if c.startswith("python -m restore.train")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    """The page's files, written out, and its other commands (making the demo data) run."""
    root = tmp_path_factory.mktemp("lab")
    for path, text in files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    for command in commands():
        if command not in trainings():
            result = run(command, root, root)
            assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
    return root


def test_the_page_has_four_recipes_each_one_file_and_one_yaml():
    written = files()
    for room in ("nets", "layouts", "degradations", "tasks"):
        assert f"mylab/{room}.py" in written
    yamls = [p for p in written if p.endswith(".yaml")]
    assert sorted(Path(p).parent.name for p in yamls) == ["data", "model", "noise", "task"]
    assert len(trainings()) == 4


def run(command: str, cwd: Path, run_dir: Path) -> subprocess.CompletedProcess:
    if command.startswith("python -m restore.train"):
        command += f" {FAST} hydra.run.dir={run_dir}"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env["PYTHONPATH"] = str(cwd)
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("index", range(4))
def test_every_recipe_trains_as_the_page_says(lab, index, tmp_path):
    command = trainings()[index]
    result = run(command, lab, tmp_path / "run")
    assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
    log = (tmp_path / "run" / "train.log").read_text()
    assert "job finished" in log, log[-2000:]
    with open(tmp_path / "run" / "test_metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(float(row["psnr"]) > 10 for row in rows), rows
    if "task=edge_denoise" in command:  # the task's own metric, on every test set
        assert all(float(row["edge_psnr"]) > 0 for row in rows), rows
    if "data=scenes" in command:  # the layout's named test set, of real pairs
        assert [row["set"] for row in rows] == ["scenes"], rows


def test_the_new_degradation_obeys_the_noise_contract(lab, monkeypatch):
    monkeypatch.syspath_prepend(str(lab))
    importlib.invalidate_caches()
    cfg = OmegaConf.load(lab / "mylab" / "conf" / "noise" / "speckle.yaml")
    degradation = hydra.utils.instantiate(cfg).eval()
    checks = [
        fn
        for name, fn in vars(test_contract).items()
        if name.startswith("test_") and list(inspect.signature(fn).parameters) == ["member"]
    ]
    assert len(checks) >= 3
    for check in checks:
        check(("speckle", degradation))
