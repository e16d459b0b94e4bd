"""Every experiment preset runs end to end: one fast_dev_run job per preset, in one multirun."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from restore.utils.config import CONFIG_DIR

from .conftest import compose_config
from .test_train import run_cli

# scored by `restore.eval`, not trained: tests/test_released_weights.py runs it in full
EVAL_ONLY = {"dncnn_kair_s25"}
# former names, composed by test_former_names_compose_to_their_preset rather than run
ALIASES = {"dncnn_cpu_budget": "unet_cpu_budget"}
PRESETS = sorted(
    p.stem
    for p in (CONFIG_DIR / "experiment").glob("*.yaml")
    if p.stem not in EVAL_ONLY | set(ALIASES)
)


def reads_shared(preset: str, tmp_path: Path) -> bool:
    """Whether the preset's data come from the data dir: ../shared/datasets in these tests
    (tests/conftest.py), which skip where that is absent."""
    cfg = compose_config("train", [f"experiment={preset}"], tmp_path)
    return cfg.paths.data_dir in OmegaConf.to_yaml(cfg.data, resolve=True)


def smoke_run(presets: list[str], tmp_path: Path) -> None:
    result = run_cli(
        "restore.train",
        "-m",
        f"experiment={','.join(presets)}",
        "+trainer.fast_dev_run=true",
        "trainer.accelerator=cpu",
        "data.num_workers=0",
        "logger=csv",
        f"hydra.sweep.dir={tmp_path}",
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(jobs) == len(presets)
    for job in jobs:  # fast_dev_run replaces loggers: the job log tells how each job ended
        log = (job / "train.log").read_text()
        assert "job finished" in log and "job failed" not in log, log[-2000:]


def test_presets_on_bundled_data_run(tmp_path):
    presets = [p for p in PRESETS if not reads_shared(p, tmp_path / "cfg")]
    assert presets, "some presets train on the bundled photos"
    smoke_run(presets, tmp_path / "runs")


@pytest.mark.shared
def test_presets_on_shared_data_run(shared_datasets, tmp_path):
    presets = [p for p in PRESETS if reads_shared(p, tmp_path / "cfg")]
    assert {"unet_cpu_budget", "dncnn_s25_paper"} <= set(presets)
    smoke_run(presets, tmp_path / "runs")


@pytest.mark.parametrize(("old", "new"), ALIASES.items())
def test_former_names_compose_to_their_preset(old, new, tmp_path):
    def composed(name):
        cfg = OmegaConf.to_container(compose_config("train", [f"experiment={name}"], tmp_path))
        cfg.pop("hydra", None)
        return cfg

    cfg = compose_config("train", [f"experiment={old}"], tmp_path)
    assert cfg.model._target_ == "restore.archs.unet.UNet"
    assert composed(old) == composed(new)
