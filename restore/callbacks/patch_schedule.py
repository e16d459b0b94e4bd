"""Progressive patch sizes: larger training patches as training goes on."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import lightning as L

from restore.callbacks.time_budget import TimeBudget
from restore.utils.errors import ConfigError, DataError


class PatchSchedule(L.Callback):
    """Switch the training patch size and batch size at given fractions of training.

    ``stages`` lists ``{start, patch_size, batch_size}``: from the fraction ``start`` of training
    on, batches hold ``batch_size`` patches of ``patch_size`` (before the first stage, the data
    config's). The fraction is the :class:`TimeBudget`'s clock when the run has one, else the
    step over the Trainer's estimated steps (``max_steps`` or ``max_epochs``). Small patches
    early give more patches per step for the same pixels; large ones late let a network with a
    wide receptive field (the U-Net's is over 140 px) learn from the context it sees at test
    time (progressive learning, Zamir et al., Restormer, CVPR 2022). The new shape takes effect
    at the next batch drawn (the loader fetches one batch ahead).

    Needs ``data.resident=true`` (the datamodule's ``reshape_patches``). Written here because
    Lightning has no callback that changes the batch shape within a run; the fraction is
    recomputed at every step, so a resumed run picks up its stage.
    """

    def __init__(self, stages: Sequence[Mapping]):
        parsed = []
        for i, stage in enumerate(stages):
            missing = {"start", "patch_size", "batch_size"} - set(stage)
            if missing:
                raise ConfigError(
                    f"callbacks.patch_schedule.stages[{i}] lacks {sorted(missing)}: each stage "
                    "is {start, patch_size, batch_size}"
                )
            parsed.append(
                (float(stage["start"]), int(stage["patch_size"]), int(stage["batch_size"]))
            )
        starts = [s for s, _, _ in parsed]
        if starts != sorted(starts) or any(not 0 <= s < 1 for s in starts):
            raise ConfigError(
                f"callbacks.patch_schedule.stages: starts {starts} must rise within [0, 1)"
            )
        self.stages = parsed
        self.current: int | None = None
        self._budget: TimeBudget | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self._budget = next((c for c in trainer.callbacks if isinstance(c, TimeBudget)), None)
        if self._budget is None and not math.isfinite(trainer.estimated_stepping_batches):
            raise ConfigError(
                "callbacks.patch_schedule needs a known length of training: a time budget "
                "(callbacks.time_budget) or trainer.max_steps / trainer.max_epochs"
            )
        self._apply(trainer, pl_module)

    def fraction(self, trainer) -> float:
        if self._budget is not None:
            return self._budget.fraction()
        return trainer.global_step / max(1.0, trainer.estimated_stepping_batches)

    def stage(self, fraction: float) -> int | None:
        """The index of the stage in force at ``fraction``, None before the first.

        >>> PatchSchedule([{"start": 0.5, "patch_size": 96, "batch_size": 7}]).stage(0.2) is None
        True
        """
        started = [i for i, (start, _, _) in enumerate(self.stages) if start <= fraction]
        return started[-1] if started else None

    def _apply(self, trainer, pl_module) -> None:
        index = self.stage(self.fraction(trainer))
        if index is None or index == self.current:
            return
        _, patch_size, batch_size = self.stages[index]
        reshape = getattr(trainer.datamodule, "reshape_patches", None)
        if reshape is None:
            raise ConfigError(
                "callbacks.patch_schedule needs a datamodule that can change its patches "
                "(restore.data.RestorationDataModule with data.resident=true)"
            )
        try:
            reshape(patch_size, batch_size)
        except (ConfigError, DataError) as err:
            raise ConfigError(f"callbacks.patch_schedule.stages[{index}]: {err}") from None
        self.current = index

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._apply(trainer, pl_module)
        if self.current is not None:
            pl_module.log("train/patch_size", float(self.stages[self.current][1]))
