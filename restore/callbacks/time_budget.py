"""Train for a wall-clock budget, with the learning rate annealed over that same clock."""

from __future__ import annotations

import math

from restore.callbacks.train_clock import TrainClock


class TimeBudget(TrainClock):
    """Stop training after ``minutes`` of training time and anneal the LR to the budget.

    Lightning's ``Timer`` callback stops on time, but a schedule that ends exactly at the budget
    needs the same clock inside the LR schedule (the number of steps the budget allows is not
    known in advance), so both live here. ``schedule``: ``cosine`` (linear warm-up over
    ``warmup`` of the budget, then cosine to ``final_lr_ratio`` x the base LR) or ``constant``.
    Time spent in validation is not counted against the budget.
    """

    def __init__(
        self,
        minutes: float = 30.0,
        schedule: str = "cosine",
        warmup: float = 0.02,
        final_lr_ratio: float = 0.01,
    ):
        if minutes <= 0:
            raise ValueError(f"callbacks.time_budget.minutes must be positive, got {minutes}")
        if schedule not in ("cosine", "constant"):
            raise ValueError(
                f"callbacks.time_budget.schedule must be cosine or constant, got {schedule!r}"
            )
        super().__init__(log_key=None)
        self.budget = 60.0 * minutes
        self.schedule = schedule
        self.warmup = warmup
        self.final_lr_ratio = final_lr_ratio
        self._base_lrs: list[float] = []

    def on_train_start(self, trainer, pl_module) -> None:
        self._base_lrs = [g.get("initial_lr", g["lr"]) for g in trainer.optimizers[0].param_groups]

    def fraction(self) -> float:
        return min(1.0, self.seconds() / self.budget)

    def lr_factor(self, fraction: float) -> float:
        if self.schedule == "constant":
            return 1.0
        if fraction < self.warmup:
            return max(fraction / self.warmup, 1e-3)
        progress = (fraction - self.warmup) / max(1e-9, 1 - self.warmup)
        return self.final_lr_ratio + (1 - self.final_lr_ratio) * 0.5 * (
            1 + math.cos(math.pi * progress)
        )

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        fraction = self.fraction()
        if fraction >= 1.0:
            trainer.should_stop = True
            return
        factor = self.lr_factor(fraction)
        for group, base in zip(trainer.optimizers[0].param_groups, self._base_lrs, strict=True):
            group["lr"] = base * factor
        pl_module.log("train/budget_fraction", fraction)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.fraction() >= 1.0:
            trainer.should_stop = True
