"""Every command of README.md's ```bash blocks runs as written, with tiny overrides appended.

The placeholders of the README (``...``, ``<date>/<time>``, ``photos/``, ``F16.png``, ...) are
replaced by the files of one shared tiny setup (a 2-step DnCNN run, a few small images); a
placeholder this test does not know fails the test, so a new README example cannot go untested.
Commands run in this process (``runpy``, as ``python -m`` would), which spares the imports of a
new interpreter each. Skipped: ``make`` targets (``make test`` would run this test; ``make
train``'s command is checked in ``test_quiet_run.py``), ``pip`` lines, shell-only lines,
downloads, GPU configs without a GPU, and commands whose datasets or weights are absent here.
"""

from __future__ import annotations

import logging
import os
import re
import runpy
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from PIL import Image
from skimage import data

from restore.utils.config import PROJECT_ROOT

pytestmark = pytest.mark.slow

README = PROJECT_ROOT / "README.md"
# console scripts are the same entry points as `python -m restore.<name>`
SCRIPT = re.compile(r"^restore-(\w+)$")
SKIP_FIRST = {"make", "pip", "eval", "wandb", "cd", "export"}
DOWNLOADS = ("restore.download", "restore.data.download")
GPU_CONFIGS = ("trainer=gpu", "trainer=ddp", "trainer=mps")
TINY_DATA = [
    "++data.patches_per_epoch=8",
    "++data.batch_size=4",
    "++data.patch_size=32",
    "++data.val_crop=48",
    "++data.test_crop=48",
    "++data.num_workers=0",
]
TINY_TRAINER = [
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "trainer.max_steps=2",
    "trainer.log_every_n_steps=1",
    "++trainer.limit_val_batches=1",
    "++trainer.limit_test_batches=1",
]


def readme_commands(path: Path = README) -> list[str]:
    """The command lines of the ```bash blocks (continuations joined, comments kept)."""
    lines, inside, pending = [], False, ""
    for raw in path.read_text().splitlines():
        if raw.startswith("```"):
            inside = raw.strip() == "```bash"
            continue
        if not inside:
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def split(line: str) -> tuple[str | None, list[str], str]:
    """(entry module or None, its arguments, why it is skipped) of a README line."""
    words = shlex.split(line, comments=True)
    if not words:
        return None, [], "empty"
    if words[:2] == ["python", "-m"] and words[2].startswith("restore."):
        module, args = words[2], words[3:]
    elif SCRIPT.match(words[0]):
        module, args = f"restore.{SCRIPT.match(words[0]).group(1)}", words[1:]
    else:
        module = None
    if module in DOWNLOADS:
        return None, [], "a download (no network in tests; tests/test_download_catalog.py)"
    if module is not None:
        return module, args, ""
    if words[0] in SKIP_FIRST:
        return None, [], f"`{words[0]}` line"
    return None, [], "not a restore command"


# -- the shared tiny setup ---------------------------------------------------------------------
def _gray(size: int, seed: int) -> np.ndarray:
    img = data.camera()[100 : 100 + size, 180 : 180 + size]
    return np.roll(img, seed * 7, axis=1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """Files the README names, and one tiny trained run (its checkpoint and folder)."""
    root = tmp_path_factory.mktemp("readme")
    files: dict[str, Path] = {}
    photos = root / "photos"
    photos.mkdir()
    Image.fromarray(_gray(64, 0)).save(photos / "a.png")
    Image.fromarray(data.astronaut()[:40, :56]).save(photos / "b.jpg")
    files["photos"] = photos
    tree = root / "tree"  # train/ val/ test/ for data=folder
    for k, split_name in enumerate(("train", "train", "val", "test")):
        (tree / split_name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(_gray(80, k)).save(tree / split_name / f"{k}.png")
    files["tree"] = tree
    folder = root / "Kodak24"
    folder.mkdir()
    Image.fromarray(_gray(48, 3)).save(folder / "k1.png")
    files["folder"] = folder
    for name, size in (("F16.png", 40), ("HR.png", 64), ("noisy.png", 48), ("kate.png", 40)):
        Image.fromarray(_gray(size, 1)).save(root / name)
        files[name] = root / name
    mask = np.full((40, 40), 255, np.uint8)
    mask[10:20, 10:30] = 0
    Image.fromarray(mask).save(root / "kate_mask.png")
    files["kate_mask.png"] = root / "kate_mask.png"
    run = root / "run0"
    _run(
        "restore.train",
        ["model=dncnn", "model.depth=4", "model.width=16", *TINY_DATA, *TINY_TRAINER,
         f"hydra.run.dir={run}"],
    )  # fmt: skip
    files["run"] = run
    files["ckpt"] = run / "checkpoints" / "last.ckpt"
    assert files["ckpt"].is_file()
    files["root"] = root
    return files


def substitute(words: list[str], files: dict[str, Path], out: Path) -> list[str]:
    """The README's placeholders replaced by the setup's files and ``out``'s folders."""
    ckpt = str(files["ckpt"])
    resume = out / "resumed"
    if any(w == "ckpt_path=last" for w in words) and not resume.exists():
        resume.mkdir(parents=True)
        (resume / "checkpoints").mkdir()
        (resume / "checkpoints" / "last.ckpt").write_bytes(files["ckpt"].read_bytes())
    table = [
        (r"hydra\.run\.dir=outputs/train/<date>/<time>", f"hydra.run.dir={resume}"),
        (r"outputs/train/<date>/<time>/checkpoints/last\.ckpt", ckpt),
        (r"outputs/multirun/<date>/<time>", str(files["run"])),
        (r"^\.\.\./checkpoints/last\.ckpt$", ckpt),
        (r"=\.\.\./checkpoints/last\.ckpt$", f"={ckpt}"),
        (r"=\.\.\.$", f"={ckpt}"),
        (r"A\.ckpt,B\.ckpt", f"{ckpt},{ckpt}"),
        (r"^data\.layout\.root=~/photos$", f"data.layout.root={files['tree']}"),
        (r"/data/Kodak24", str(files["folder"])),
        (r"^input=photos/$", f"input={files['photos']}"),
        (r"^output=(restored|out)/$", rf"output={out}/\1"),
        (r"^output=model\.onnx$", f"output={out}/model.onnx"),
    ]
    for name in ("F16.png", "HR.png", "noisy.png", "kate.png", "kate_mask.png"):
        table.append((rf"=({re.escape(name)})$", f"={files[name]}"))
    result = []
    for word in words:
        for pattern, replacement in table:
            word = re.sub(pattern, replacement, word)
        result.append(word)
    unknown = [w for w in result if "<" in w or "..." in w]
    assert not unknown, f"README placeholders this test does not know: {unknown}"
    return result


def tiny(module: str, words: list[str], out: Path) -> list[str]:
    """Overrides that make a command take seconds, and its outputs go under ``out``."""
    multirun = "-m" in words or any(w.startswith("hparams_search=") for w in words)
    where = [f"hydra.sweep.dir={out}/sweep"] if multirun else []
    if not any(w.startswith("hydra.run.dir=") for w in words):
        where.append(f"hydra.run.dir={out}/run")
    dip = any(w in ("model=dip",) for w in words)
    if module == "restore.train":
        extra = [*TINY_DATA, *TINY_TRAINER]
        if "ckpt_path=last" in words:  # the setup's run, copied: one more epoch of its network
            extra += ["trainer.max_steps=-1", "trainer.max_epochs=2", "model.depth=4"]
            extra += ["model.width=16"]
        if any(w.startswith("hparams_search=") for w in words):
            extra += ["hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=2"]
        if "hydra/launcher=parallel" in words:
            extra += ["hydra.launcher.n_jobs=1"]  # in this process, one after the other
        return [*words, *extra, *where]
    if module == "restore.eval":
        extra = ["trainer.accelerator=cpu", "++trainer.limit_test_batches=1", "++data.test_crop=32"]
        if dip:
            extra += ["++model.max_steps=2"]
        return [*words, *extra, *where]
    if module == "restore.dip":
        return [*words, "crop=32", "model.max_steps=2", "accelerator=cpu", *where]
    if module == "restore.predict":
        return [*words, "tile=32", "overlap=4", "device=cpu", *where]
    if module == "restore.report":
        return [*words, "--no-timing", "--output", str(out / "report")]
    return [*words, *where]


def _run(module: str, args: list[str]) -> None:
    """``python -m module args`` in this process (in a child process when it logs to W&B, whose
    in-process state outlives a run and spoils the next test's W&B run); fails on a non-zero
    exit."""
    if any(a.startswith("logger=") and a != "logger=csv" for a in args):
        done = subprocess.run([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT)
        if done.returncode != 0:
            raise AssertionError(f"{module} {' '.join(args)} exited with {done.returncode}")
        return
    GlobalHydra.instance().clear()
    argv = sys.argv
    sys.argv = [module, *args]
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # Hydra's job logging replaces them
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # runpy: module already imported
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise AssertionError(f"{module} {' '.join(args)} exited with {exit_.code}") from None
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:], root.level = handlers, level


def _absent_data(message: str) -> bool:
    """A failure because benchmark sets or weights are not on this machine."""
    roots = [str(PROJECT_ROOT / "data"), str(PROJECT_ROOT.parent / "shared")]
    roots += [os.environ[k] for k in ("RESTORE_DATA_DIR", "RESTORE_WEIGHTS_DIR") if k in os.environ]
    return "does not exist" in message and any(r in message for r in roots)


COMMANDS = readme_commands()


def test_readme_has_commands():
    modules = {split(line)[0] for line in COMMANDS}
    assert {"restore.train", "restore.eval", "restore.predict", "restore.dip"} <= modules


@pytest.mark.parametrize("line", COMMANDS, ids=[f"{i:02d}" for i in range(len(COMMANDS))])
def test_readme_command_runs(line, setup, tmp_path, capfd, monkeypatch):
    module, words, why = split(line)
    if module is None:
        pytest.skip(why)
    if any(g in words for g in GPU_CONFIGS) and not torch.cuda.is_available():
        pytest.skip("needs a GPU")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.chdir(PROJECT_ROOT)
    args = tiny(module, substitute(words, setup, tmp_path), tmp_path)
    try:
        _run(module, args)
    except AssertionError:
        captured = capfd.readouterr()
        text = captured.out + captured.err
        if _absent_data(text):
            pytest.skip("its datasets or weights are absent here")
        raise AssertionError(f"README command failed: {line}\n{text[-3000:]}") from None
