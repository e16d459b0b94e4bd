"""hparams_search=dncnn_optuna with an sqlite storage: the study persists and a rerun resumes it.

hydra-optuna-sweeper needs optuna 2.x, whose RDB storage fails with a bare AssertionError under
SQLAlchemy 2; pyproject.toml's ``sweeps`` extra pins ``sqlalchemy<2`` for it.
"""

from __future__ import annotations

import optuna
import pytest

from .test_report import JOB_LOG, fast
from .test_train import run_cli

TINY = [
    *fast("model.width", "data.batch_size"),
    "trainer.max_epochs=1",
    "data.patches_per_epoch=16",
    "data.test_crop=32",
    "test=false",
    JOB_LOG,
]


def sweep(storage: str, sweep_dir) -> None:
    result = run_cli(
        "restore.train",
        "hparams_search=dncnn_optuna",
        *TINY,
        "hydra.sweeper.n_trials=2",
        "model.width=choice(8,16)",
        "data.batch_size=choice(4,8)",
        f"hydra.sweeper.storage='{storage}'",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_optuna_study_persists_to_sqlite_and_a_rerun_resumes_it(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    sweep(storage, tmp_path / "first")
    study = optuna.load_study(study_name="dncnn", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2

    sweep(storage, tmp_path / "second")  # the same study_name and storage: the study goes on
    study = optuna.load_study(study_name="dncnn", storage=storage)
    assert len(study.trials) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    values = [t.value for t in study.trials]
    assert study.best_value == max(values)  # direction: maximize (val/psnr)
