"""Progress and quiet (#16): a normal run prints no third-party warning, notice or tip, one test
table, tqdm's bars; ``test_sets=`` evaluates any folder with any preset; one-line errors."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import warnings

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelSummary, TQDMProgressBar
from PIL import Image
from skimage import data

import restore.inference.tiling as tiling
from restore.dip.method import IterationBar, _Steps
from restore.dip.module import DIPModule
from restore.eval import evaluate
from restore.inference.tiling import tiled_apply
from restore.train import train
from restore.utils.build import apply_test_sets, build_trainer, chosen_test_sets
from restore.utils.cli import QUIET_WARNINGS, quiet_third_party
from restore.utils.config import PROJECT_ROOT
from restore.utils.errors import ConfigError

from .conftest import compose_config

TINY = [
    "trainer.accelerator=cpu",
    "data.patch_size=32",
    "data.batch_size=8",
    "data.patches_per_epoch=16",
    "data.val_crop=64",
    "model.depth=4",
    "model.width=16",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
]
# what a third-party line looks like: a warning's "file.py:LINE:" prefix from site-packages, or
# the words of deprecations, notices and advertisements
THIRD_PARTY = re.compile(r"site-packages/.*\.py:\d+:|Warning|💡|\bTip\b|deprecated")


def run_cli(module: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m module args`` as a user runs it: Python's default warning filters (no
    PYTHONWARNINGS), offline W&B."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "WANDB_API_KEY")}
    env |= {"WANDB_MODE": "offline", "OMP_NUM_THREADS": "2"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_make_train_output_has_no_third_party_warning_or_tip(tmp_path):
    """`make train`'s command, with tiny overrides, in a fresh interpreter as a user runs it."""
    args = ["model=dncnn", "noise=gaussian", *TINY, f"hydra.run.dir={tmp_path}"]
    result = run_cli("restore.train", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (result.stdout + result.stderr).replace("\r", "\n").splitlines()
    noisy = [line for line in lines if THIRD_PARTY.search(line)]
    assert not noisy, "\n".join(noisy)
    out = result.stdout
    assert out.count("test set ") == 1  # one test table: ours
    assert "Test metric" not in out and "DataLoader 0  " not in out
    assert "━" not in result.stdout + result.stderr  # not Rich's bar


def test_filters_are_narrow():
    quiet_third_party()
    quiet_third_party()  # idempotent
    assert all(len(entry) == 3 for entry in QUIET_WARNINGS)  # message, module, why
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_third_party()  # installs its filters in front of "always"
        warnings.warn_explicit(
            "`isinstance(treespec, LeafSpec)` is deprecated, use ...",
            FutureWarning,
            "_pytree.py",
            21,
            module="lightning.pytorch.utilities._pytree",
        )
        warnings.warn_explicit(
            "something else",
            FutureWarning,
            "_pytree.py",
            30,
            module="lightning.pytorch.utilities._pytree",
        )
        warnings.warn_explicit(
            "`isinstance(treespec, LeafSpec)` is deprecated",
            FutureWarning,
            "mine.py",
            1,
            module="mypackage.mine",
        )
    assert [str(w.message) for w in seen] == [
        "something else",
        "`isinstance(treespec, LeafSpec)` is deprecated",
    ]
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("💡 Tip: For seamless cloud logging, try installing [litlogger]")
        logger.info("GPU available: False, used: False")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert records == ["GPU available: False, used: False"]


def test_trainer_uses_tqdm_and_the_plain_summary(tmp_path):
    cfg = compose_config("train", TINY, tmp_path)
    trainer, _, _ = build_trainer(cfg)
    assert type(trainer.progress_bar_callback) is TQDMProgressBar
    assert [type(c) for c in trainer.callbacks if isinstance(c, ModelSummary)] == [ModelSummary]
    cfg = compose_config(
        "train", [*TINY, "trainer.enable_progress_bar=false", "+trainer.enable_model_summary=false"]
    , tmp_path)  # fmt: skip
    trainer, _, _ = build_trainer(cfg)
    assert trainer.progress_bar_callback is None
    assert not any(isinstance(c, ModelSummary) for c in trainer.callbacks)


def test_one_test_table(train_cfg, capsys):
    train(train_cfg("trainer.max_epochs=1", "logger=csv"))
    out = capsys.readouterr().out
    assert out.count("test set ") == 1  # ours (TestReport)
    assert "Test metric" not in out
    train(train_cfg("debug=fdr"))  # no callbacks at all: Lightning's table is the one
    out = capsys.readouterr().out
    assert out.count("Test metric") == 1 and "test set " not in out


# -- test_sets ---------------------------------------------------------------------------------
@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "Kodak24"
    path.mkdir()
    Image.fromarray(data.camera()[:64, :64]).save(path / "k1.png")
    Image.fromarray(data.coins()[:48, :56]).save(path / "k2.png")
    return path


def test_test_sets_forms():
    assert chosen_test_sets({"A": "/x"}) == {"A": "/x"}
    assert chosen_test_sets("/data/Kodak24") == {"Kodak24": "/data/Kodak24"}
    assert chosen_test_sets(["/a/S1", "/b/S2"]) == {"S1": "/a/S1", "S2": "/b/S2"}
    for bad in ({}, 3, {"A": 3}):
        with pytest.raises(ConfigError, match="test_sets"):
            chosen_test_sets(bad)


def test_test_sets_replace_a_presets_sets(tmp_path, folder):
    # the failing command composes, and the preset's Set12/BSD68 are gone
    cfg = compose_config(
        "eval", ["experiment=dncnn_kair_s25", f"test_sets={{Kodak24: {folder}}}"], tmp_path
    )
    apply_test_sets(cfg, only=True)
    assert dict(cfg.data.test_sets) == {"Kodak24": str(folder)}
    cfg = compose_config("train", ["data=denoise_gray", f"test_sets={folder}"], tmp_path)
    apply_test_sets(cfg)
    assert dict(cfg.data.test_sets) == {"Kodak24": str(folder)}
    assert cfg.data.layout is not None  # training keeps its layout


def test_eval_on_any_folder_scores_that_folder_only(gray_dncnn_ckpt, tmp_path, folder):
    cfg = compose_config(
        "eval", [f"ckpt_path={gray_dncnn_ckpt}", f"test_sets={{Kodak24: {folder}}}"], tmp_path
    )
    metrics = evaluate(cfg)
    sets = {k.split("/")[1] for k in metrics if k.startswith("test/")}
    assert sets == {"Kodak24"}  # not the checkpoint's embedded test split


# -- progress bars -----------------------------------------------------------------------------
def test_dip_iteration_bar_shows_psnr(capsys):
    L.seed_everything(0, verbose=False)
    clean = torch.rand(1, 1, 16, 16)
    generator = torch.nn.Sequential(torch.nn.Conv2d(4, 1, 3, padding=1), torch.nn.Sigmoid())
    module = DIPModule(
        generator, clean, gt=clean, input_depth=4, max_steps=6, ssim_every=0, channels_last=False
    )
    bar = IterationBar(6, "F16", every=2, disable=False, mininterval=0)
    trainer = L.Trainer(
        max_steps=6,
        max_epochs=1,
        logger=False,
        callbacks=[bar],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, torch.utils.data.DataLoader(_Steps(6), batch_size=None))
    err = capsys.readouterr().err
    assert "F16" in err and "PSNR" in err and "6/6" in err
    assert bar.bar is None  # closed


def test_tiles_have_a_bar(monkeypatch):
    made = []

    class Recorder:
        def __init__(self, total, desc, disable, **_):
            self.total, self.desc, self.disable, self.n = total, desc, disable, 0
            made.append(self)

        def update(self, n):
            self.n += n

        def close(self):
            pass

    monkeypatch.setattr(tiling, "tqdm", Recorder)
    x = torch.rand(1, 1, 100, 90)
    out = tiled_apply(lambda t: t, x, tile=40, overlap=4, progress="big.png")
    assert torch.allclose(out, x, atol=1e-6)
    (bar,) = made
    assert bar.desc == "big.png" and bar.n == bar.total > 1 and bar.disable is None
    tiled_apply(lambda t: t, x, tile=40, overlap=4)  # no label: no bar
    assert made[-1].disable is True


# -- one-line errors ---------------------------------------------------------------------------
def test_predict_output_under_a_file_is_one_line(gray_dncnn_ckpt, tmp_path, folder):
    blocker = tmp_path / "taken.png"
    blocker.write_bytes(b"x")
    out = blocker / "restored"
    result = run_cli(
        "restore.predict",
        f"ckpt_path={gray_dncnn_ckpt}",
        f"input={folder}",
        f"output={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: output={out} is under {blocker}, a file: give a folder"]


def test_predict_says_when_an_image_is_tiled(gray_dncnn_ckpt, tmp_path, folder, caplog):
    from restore.predict import predict

    args = [f"ckpt_path={gray_dncnn_ckpt}", f"input={folder}", f"output={tmp_path / 'out'}"]
    cfg = compose_config("predict", [*args, "tile=32", "overlap=4", "device=cpu"], tmp_path / "r")
    with caplog.at_level(logging.INFO, logger="restore.predict"):
        predict(cfg)
    assert re.search(r"k1\.png: 64x64 in \d+ tiles of 32", caplog.text)
