"""Nothing lost when a run diverges or is told to stop: the ``divergence`` and ``preemption``
callbacks (in ``conf/callbacks/default.yaml``).

* :class:`Divergence` stops training at the first non-finite training loss with a one-line
  :class:`~restore.utils.errors.TrainingDiverged` naming the step and the learning rate, before
  any checkpoint of the non-finite weights is written (checkpoint callbacks run after every other
  callback in Lightning). The loss is checked on the device, without a host sync per step; the
  flag is read every ``check_every_n_steps`` steps and before every epoch end and validation.
* :class:`Preemption` saves ``last.ckpt`` when the run is signalled to stop (SIGTERM, which
  Lightning turns into ``SIGTERMException`` at the next step boundary, and SIGUSR1, what
  ``scancel --signal=USR1`` and Slurm's ``--signal`` send before a time limit); ``restore.train``
  then exits with 128 + the signal number and says how to resume. Lightning's own
  ``OnExceptionCheckpoint`` saves on *any* exception, a diverged one included, hence this one.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from restore.utils.errors import TrainingDiverged

log = logging.getLogger("restore")


class Divergence(L.Callback):
    """Raise :class:`TrainingDiverged` at the first non-finite training loss."""

    def __init__(self, check_every_n_steps: int = 50):
        self.every = max(1, int(check_every_n_steps))
        self._first_bad: torch.Tensor | None = None  # step of the first non-finite loss, or -1
        self.diverged = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        step = torch.tensor(trainer.global_step, device=loss.device)
        if self._first_bad is None or self._first_bad.device != loss.device:
            self._first_bad = torch.tensor(-1, device=loss.device)
        bad = ~torch.isfinite(loss.detach()).all()
        self._first_bad = torch.where(bad & (self._first_bad < 0), step, self._first_bad)
        if trainer.global_step % self.every == 0:
            self.check(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.check(trainer)

    def on_validation_start(self, trainer, pl_module) -> None:
        if trainer.training or trainer.state.fn == "fit":
            self.check(trainer)

    def check(self, trainer) -> None:
        """Raise if a non-finite loss was seen (one host sync)."""
        if self._first_bad is None:
            return
        step = int(self._first_bad)
        if step < 0:
            return
        self.diverged = True
        lrs = [group["lr"] for opt in trainer.optimizers for group in opt.param_groups]
        lr = f"{lrs[0]:.3g}" if lrs else "?"
        ckpt = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
        kept = f"; the last finite checkpoint is {ckpt}" if ckpt else ""
        raise TrainingDiverged(
            f"training diverged: non-finite loss at step {step} (lr {lr}): lower optimizer.lr, "
            f"add gradient clipping (trainer.gradient_clip_val=1.0) or check the data{kept}"
        )


class Preemption(L.Callback):
    """Save ``<dirpath>/<filename>.ckpt`` when the run is signalled to stop.

    Args:
        dirpath: where the checkpoint goes (the run's ``checkpoints/``, as ``last.ckpt``, so that
            ``ckpt_path=<run>/checkpoints/last.ckpt`` resumes it).
        filename: the checkpoint's name, without ``.ckpt``.
        signals: extra signals that stop the run like SIGTERM (default SIGUSR1); under Slurm
            with ``auto_requeue``, Lightning's own SIGUSR1 handler (save and requeue) is kept.
    """

    def __init__(
        self, dirpath: str, filename: str = "last", signals: tuple[str, ...] = ("SIGUSR1",)
    ):
        self.path = Path(dirpath) / f"{filename}.ckpt"
        self.signal_names = tuple(signals)
        self.received: str | None = None
        self._previous: dict[int, object] = {}

    def _handler(self, signum, frame) -> None:
        self.received = signal.Signals(signum).name
        log.info("received %s: stopping at the end of this step", self.received)

    def on_fit_start(self, trainer, pl_module) -> None:
        self.received = None
        names = " or ".join(("SIGTERM", *self.signal_names))
        log.info("on %s: save %s and stop", names, self.path)
        if threading.current_thread() is not threading.main_thread():
            return  # Python only lets the main thread install handlers
        for name in self.signal_names:
            signum = getattr(signal, name)
            if signal.getsignal(signum) not in (signal.SIG_DFL, signal.SIG_IGN, None):
                continue  # somebody (Lightning under Slurm) already handles it
            self._previous[signum] = signal.signal(signum, self._handler)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.received:
            raise SIGTERMException()

    def teardown(self, trainer, pl_module, stage: str) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        self.received = self.received or "SIGTERM"
        if any(getattr(cb, "diverged", False) for cb in trainer.callbacks):
            log.error(
                "%s after divergence: no checkpoint of non-finite weights saved", self.received
            )
            return
        if not all(math.isfinite(float(p.detach().float().sum())) for p in pl_module.parameters()):
            log.error("%s: the weights are not finite, no checkpoint saved", self.received)
            return
        trainer.save_checkpoint(self.path)
        log.info("%s at step %d: saved %s", self.received, trainer.global_step, self.path)
