"""Training time, validation excluded, logged at every validation: time-to-accuracy curves."""

from __future__ import annotations

import lightning as L

from restore.utils.timing import Stopwatch


class TrainClock(L.Callback):
    """Measure the time spent training (validation excluded) and log it as ``log_key`` minutes.

    Logged at each validation epoch end, next to ``val/psnr``, so ``metrics.csv`` answers "how
    long did it take to reach X dB". The elapsed time is saved in checkpoints and continues on
    resume. ``log_key: null`` measures without logging (used by :class:`TimeBudget`).
    """

    def __init__(self, log_key: str | None = "time/train_min"):
        self.log_key = log_key
        self.watch = Stopwatch()

    def state_dict(self) -> dict:
        return {"elapsed": self.seconds()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.watch.elapsed = float(state_dict.get("elapsed", 0.0))

    def seconds(self) -> float:
        return self.watch.seconds()

    def _pause(self) -> None:
        self.watch.stop()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.watch.start()

    def on_validation_start(self, trainer, pl_module) -> None:
        self._pause()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._pause()

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.training:
            self.watch.start()

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self.log_key and not trainer.sanity_checking:
            pl_module.log(self.log_key, self.seconds() / 60.0, sync_dist=True)
