"""Training time, validation excluded, logged at every validation: time-to-accuracy curves."""

from __future__ import annotations

import time

import lightning as L


class TrainClock(L.Callback):
    """Measure the time spent training (validation excluded) and log it as ``log_key`` minutes.

    Logged at each validation epoch end, next to ``val/psnr``, so ``metrics.csv`` answers "how
    long did it take to reach X dB". The elapsed time is saved in checkpoints and continues on
    resume. ``log_key: null`` measures without logging (used by :class:`TimeBudget`).
    """

    def __init__(self, log_key: str | None = "time/train_min"):
        self.log_key = log_key
        self.elapsed = 0.0
        self._start: float | None = None

    def state_dict(self) -> dict:
        return {"elapsed": self.seconds()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.elapsed = float(state_dict.get("elapsed", 0.0))

    def seconds(self) -> float:
        running = time.monotonic() - self._start if self._start is not None else 0.0
        return self.elapsed + running

    def _pause(self) -> None:
        if self._start is not None:
            self.elapsed += time.monotonic() - self._start
            self._start = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.monotonic()

    def on_validation_start(self, trainer, pl_module) -> None:
        self._pause()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._pause()

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.training:
            self._start = time.monotonic()

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self.log_key and not trainer.sanity_checking:
            pl_module.log(self.log_key, self.seconds() / 60.0, sync_dist=True)
