"""Bad input gets one clear line naming the key or file, not a stack trace."""

from __future__ import annotations

import shutil

import pytest
from PIL import Image

from restore.utils.build import check_training_config
from restore.utils.errors import ConfigError

from .conftest import FAST, compose_config
from .test_train import run_cli


def assert_clean_error(result, *fragments: str) -> None:
    assert result.returncode != 0
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


def test_unknown_config_option_lists_valid_ones():
    result = run_cli("restore.train", "model=nosuchnet")
    assert_clean_error(result, "model/nosuchnet", "dncnn")


def test_missing_data_folder_names_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    result = run_cli("restore.train", "data=folder", f"data.layout.root={missing}", *FAST)
    assert_clean_error(result, f"error: data.layout.root {missing} does not exist")


def test_empty_data_folder_names_the_path(tmp_path):
    (tmp_path / "train").mkdir()
    result = run_cli("restore.train", "data=folder", f"data.layout.root={tmp_path}", *FAST)
    assert_clean_error(result, f"{tmp_path / 'train'} holds no images")


def test_unreadable_image_names_the_file(tmp_path):
    (tmp_path / "train").mkdir()
    bad = tmp_path / "train" / "broken.png"
    bad.write_bytes(b"this is not a png")
    result = run_cli("restore.train", "data=folder", f"data.layout.root={tmp_path}", *FAST)
    assert_clean_error(result, f"cannot read image {bad}")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("noise.sigma=null", "noise"),
        ("data.channels=2", "data.channels must be 1"),
        ("noise.sigma=-5", "error: noise: noise.sigma must be >= 0 (0-255 scale), got -5\n"),
    ],
)
def test_bad_config_values_name_the_key(override, fragment):
    result = run_cli("restore.train", override, *FAST)
    assert_clean_error(result, fragment)


def test_bad_learning_rates_are_refused_before_anything_starts(tmp_path):
    result = run_cli("restore.train", "optimizer.lr=abc", *FAST)
    assert_clean_error(result, "error: optimizer.lr must be a number, got 'abc'")
    for key in ("lr", "weight_decay"):
        cfg = compose_config("train", [f"optimizer.{key}=-1"], tmp_path)
        with pytest.raises(ConfigError, match=f"optimizer.{key} must be >= 0, got -1"):
            check_training_config(cfg)


def test_a_truncated_resume_checkpoint_names_the_good_ones_beside_it(tmp_path, gray_dncnn_ckpt):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    shutil.copy(gray_dncnn_ckpt, folder / "epoch_001.ckpt")
    data = gray_dncnn_ckpt.read_bytes()
    (folder / "last.ckpt").write_bytes(data[: len(data) // 2])  # killed mid-copy
    cfg = compose_config("train", [f"ckpt_path={folder / 'last.ckpt'}"], tmp_path)
    with pytest.raises(ConfigError, match=r"damaged .* checkpoints beside it: epoch_001\.ckpt$"):
        check_training_config(cfg)
    cfg = compose_config("train", [f"ckpt_path={folder / 'nope.ckpt'}"], tmp_path)
    with pytest.raises(ConfigError, match=r"does not exist; checkpoints beside it: epoch_001"):
        check_training_config(cfg)
    cfg = compose_config("train", [f"ckpt_path={folder / 'epoch_001.ckpt'}"], tmp_path)
    check_training_config(cfg)  # a whole one passes


def test_an_image_smaller_than_the_patch_is_named(tmp_path):
    (tmp_path / "train").mkdir()
    Image.new("L", (20, 24)).save(tmp_path / "train" / "tiny.png")
    Image.new("L", (80, 80)).save(tmp_path / "train" / "big.png")
    result = run_cli("restore.train", "data=folder", f"data.layout.root={tmp_path}", *FAST)
    assert_clean_error(result, f"smallest: {tmp_path / 'train' / 'tiny.png'}, 20 px")


class _RunsCode:
    def __reduce__(self):  # what a malicious checkpoint carries: a call, run on unpickling
        return (print, ("this would have run",))


def test_a_resume_checkpoint_that_holds_code_is_refused_in_one_line(tmp_path, gray_dncnn_ckpt):
    import torch

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    shutil.copy(gray_dncnn_ckpt, folder / "epoch_001.ckpt")
    torch.save({"state_dict": {}, "payload": _RunsCode()}, folder / "last.ckpt")
    cfg = compose_config("train", [f"ckpt_path={folder / 'last.ckpt'}"], tmp_path)
    with pytest.raises(ConfigError, match=r"not a plain checkpoint \(it names \S*print\)"):
        check_training_config(cfg)
    result = run_cli("restore.train", *FAST, f"ckpt_path={folder / 'last.ckpt'}",
                     f"hydra.run.dir={tmp_path / 'run'}")  # fmt: skip
    assert_clean_error(result, "refused", "checkpoints beside it: epoch_001.ckpt")
    assert "this would have run" not in result.stdout + result.stderr


@pytest.mark.parametrize("where", ["file", "proc"])
def test_a_run_folder_that_cannot_be_created_is_one_line(tmp_path, where):
    (tmp_path / "a_file").write_text("")
    folder = tmp_path / "a_file" / "run" if where == "file" else "/proc/no/such/run"
    result = run_cli("restore.train", *FAST, f"hydra.run.dir={folder}")
    assert_clean_error(result, f"error: hydra.run.dir {folder} cannot be created")
    sweep = tmp_path / "a_file" / "sweep"
    result = run_cli("restore.train", "-m", "noise=gaussian,uniform", f"hydra.sweep.dir={sweep}")
    assert_clean_error(result, f"error: hydra.sweep.dir {sweep} cannot be created")
