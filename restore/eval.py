"""Score a model on the configured test sets: ``python -m restore.eval ckpt_path=...``.

``test_sets='{NAME: FOLDER}'`` (or ``test_sets=FOLDER``) scores those folders only, with any
checkpoint, data config or preset, e.g.
``python -m restore.eval experiment=dncnn_kair_s25 'test_sets={Kodak24: /data/Kodak24}'``.

With ``ckpt_path``, the model, task, loss, noise and data configs stored in the checkpoint are used,
except the groups chosen again on the command line; without it, the configured model is scored as
built (for example released weights through ``model.weights``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from restore.inference.loading import load_checkpoint_config, load_task
from restore.utils.build import apply_test_sets, build_task, build_trainer
from restore.utils.cli import clean_errors
from restore.utils.config import CONFIG_DIR, to_container

log = logging.getLogger(__name__)

STORED_GROUPS = ("data", "model", "task", "loss", "noise")


def _override_keys(overrides: list[str] | None = None) -> list[str]:
    """The keys the command line set, e.g. ``["task", "task.self_ensemble"]``."""
    if overrides is None:
        try:
            overrides = list(HydraConfig.get().overrides.task)
        except ValueError:  # not under Hydra (tests compose configs directly)
            return []
    return [o.lstrip("+~").split("=")[0] for o in overrides]


def with_checkpoint_config(cfg: DictConfig, overrides: list[str] | None = None) -> DictConfig:
    """Take the stored groups from the checkpoint unless the user chose them again.

    ``task=sr`` chooses the group again; ``task.self_ensemble=true`` keeps the stored group and
    changes that one key. The model is always the checkpoint's own (its weights fit no other
    network): ``model=...`` and ``model.KEY=...`` apply to the jobs without a checkpoint only, so
    that one multirun compares a method with checkpoints on the same inputs, e.g.
    ``-m ckpt_path=null,A.ckpt,B.ckpt model=dip``.
    """
    stored = load_checkpoint_config(cfg.ckpt_path)
    if stored is None:
        log.warning("%s holds no restore config: using the command line's", cfg.ckpt_path)
        return cfg
    keys = _override_keys(overrides)
    ignored = [k for k in keys if k == "model" or k.startswith(("model.", "model/"))]
    if ignored:
        log.warning(
            "%s: its own model is used; %s apply to runs without a checkpoint",
            cfg.ckpt_path,
            ", ".join(ignored),
        )
        keys = [k for k in keys if k not in ignored]
    taken = []
    with open_dict(cfg):
        for group in STORED_GROUPS:
            if group not in stored or group in keys:
                continue
            dotted = [k for k in keys if k.startswith(group + ".")]
            values = {k: OmegaConf.select(cfg, k) for k in dotted}
            cfg[group] = stored[group]
            taken.append(group)
            for key, value in values.items():
                OmegaConf.update(cfg, key, value, force_add=True)
        cfg.from_checkpoint = taken
    return cfg


EVALUATED = "evaluated.yaml"


def write_evaluated(cfg: DictConfig) -> None:
    """The config actually scored (Hydra's ``.hydra/config.yaml`` holds the command line's
    groups, not the checkpoint's), for ``restore.report``."""
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(to_container(cfg)), out / EVALUATED)  # resolved, as stored


def evaluate(cfg: DictConfig) -> dict[str, float]:
    L.seed_everything(cfg.seed, workers=True)
    if cfg.get("ckpt_path"):
        cfg = with_checkpoint_config(cfg)
    apply_test_sets(cfg, only=True)  # `test_sets=...`: these folders, with any data config
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data)
    if cfg.get("ckpt_path"):  # the one loader: weights_only=True, one-line errors naming the file
        task = load_task(cfg.ckpt_path, cfg=cfg)
    else:
        task = build_task(cfg)
        task.run_config = to_container(cfg)
    write_evaluated(cfg)
    if getattr(task.net, "fits_observation", False):  # DIP optimises a network per test image
        with open_dict(cfg):
            cfg.trainer.inference_mode = False
    trainer, _, _ = build_trainer(cfg)
    trainer.test(task, datamodule=datamodule)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
@clean_errors
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
