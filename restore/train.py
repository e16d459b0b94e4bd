"""Train a restoration model: ``python -m restore.train model=dncnn noise=gaussian``.

Seed, build the datamodule, task, callbacks, loggers and trainer from the config, fit, test the
best checkpoint, and return the metric a sweeper optimises.
"""

from __future__ import annotations

import logging
import signal

import hydra
import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from restore.callbacks.faults import Preemption, requeued_checkpoint
from restore.utils.build import apply_test_sets, build_task, build_trainer, check_training_config
from restore.utils.cli import clean_errors
from restore.utils.config import CONFIG_DIR, to_container
from restore.utils.errors import Interrupted
from restore.utils.rundir import hold_run_dir

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit and test as configured, holding the run directory; returns every logged metric."""
    with hold_run_dir(cfg.paths.output_dir):
        return _train(cfg)


def _train(cfg: DictConfig) -> dict[str, float]:
    check_training_config(cfg)
    apply_test_sets(cfg)  # `test_sets=...` in place of data.test_sets
    L.seed_everything(cfg.seed, workers=True)
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data)
    task = build_task(cfg)
    task.run_config = to_container(cfg)
    trainer, _, loggers = build_trainer(cfg)
    for logger in loggers:
        logger.log_hyperparams(task.run_config)

    if cfg.get("train"):
        try:
            trainer.fit(task, datamodule=datamodule, ckpt_path=_resume_from(cfg, trainer))
        except SIGTERMException:
            raise _interrupted(trainer) from None
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    if cfg.get("test"):
        best = (
            getattr(trainer.checkpoint_callback, "best_model_path", "") if cfg.get("train") else ""
        )
        if cfg.get("train") and not best:
            log.warning("no best checkpoint was kept: testing the current weights")
        trainer.test(task, datamodule=datamodule, ckpt_path=best or None, weights_only=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    return metrics


def _preemption(trainer: L.Trainer) -> Preemption | None:
    return next((cb for cb in trainer.callbacks if isinstance(cb, Preemption)), None)


def _resume_from(cfg: DictConfig, trainer: L.Trainer) -> str | None:
    """``ckpt_path``; in a Slurm job requeued after a preemption, the checkpoint it saved."""
    preemption = _preemption(trainer)
    requeued = requeued_checkpoint(preemption.path) if preemption else None
    if cfg.get("ckpt_path") is None and requeued is not None:
        log.info("requeued Slurm job: resuming from %s", requeued)
        return str(requeued)
    return cfg.get("ckpt_path")


def _interrupted(trainer: L.Trainer) -> Interrupted:
    preemption = _preemption(trainer)
    name = (preemption.received if preemption else None) or "SIGTERM"
    code = 128 + int(getattr(signal, name, signal.SIGTERM))
    if preemption is not None and preemption.path.is_file():
        then = (
            f"requeued Slurm job {preemption.requeued}, which resumes from it"
            if preemption.requeued
            else f"resume with ckpt_path={preemption.path}"
        )
        return Interrupted(
            f"stopped by {name} at step {trainer.global_step}: saved {preemption.path}; {then}",
            code,
        )
    return Interrupted(f"stopped by {name} at step {trainer.global_step}: nothing saved", code)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
@clean_errors
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    name = cfg.get("optimized_metric")
    return metrics.get(name) if name else None


if __name__ == "__main__":
    main()
