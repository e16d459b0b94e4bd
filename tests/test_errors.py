"""Bad input gets one clear line naming the key or file, not a stack trace."""

from __future__ import annotations

import pytest

from .conftest import FAST
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
    [("noise.sigma=null", "noise"), ("data.channels=2", "data.channels must be 1")],
)
def test_bad_config_values_name_the_key(override, fragment):
    result = run_cli("restore.train", override, *FAST)
    assert_clean_error(result, fragment)
