"""Nothing lost when a run diverges or is told to stop: the ``divergence`` and ``preemption``
callbacks (in ``conf/callbacks/default.yaml``).

* :class:`Divergence` stops training at the first non-finite training loss with a one-line
  :class:`~restore.utils.errors.TrainingDiverged` naming the step and the learning rate, before
  any checkpoint of the non-finite weights is written (checkpoint callbacks run after every other
  callback in Lightning). The loss is checked on the device, without a host sync per step; the
  flag is read every ``check_every_n_steps`` steps and before every epoch end and validation.
* :class:`Preemption` saves ``last.ckpt`` when the run is signalled to stop (SIGTERM, which
  Lightning turns into ``SIGTERMException`` at the next step boundary, and SIGUSR1, what
  ``scancel --signal=USR1`` and Slurm's ``--signal`` send before a time limit or a preemption);
  ``restore.train`` then exits with 128 + the signal number and says how to resume. Under Slurm
  the job is also requeued (``scontrol requeue``) and, when it starts again, resumes from that
  checkpoint by itself (:func:`requeued_checkpoint`). Lightning's own ``OnExceptionCheckpoint``
  saves on *any* exception, a diverged one included, and its Slurm auto-requeue saves inside the
  signal handler, in the middle of a step (and of a collective, under DDP): hence this one, which
  hands SIGUSR1 to Lightning's SIGTERM path, so that every DDP rank stops at the same step
  (Lightning broadcasts rank 0's flag each step) and saves there.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from restore.utils.errors import TrainingDiverged

log = logging.getLogger("restore")


class Divergence(L.Callback):
    """Raise :class:`TrainingDiverged` at the first non-finite training loss or gradient.

    A non-finite gradient under a finite loss (an overflow in backward) would turn the weights
    non-finite in the optimizer step, possibly the last of an epoch, before its checkpoint: the
    gradients are checked before every optimizer step, and a bad one stops the run there.
    """

    def __init__(self, check_every_n_steps: int = 50, check_gradients: bool = True):
        self.every = max(1, int(check_every_n_steps))
        self.check_gradients = check_gradients
        # the optimizer step (1-based) of the first non-finite loss / gradient, or -1
        self._first_bad: dict[str, torch.Tensor] = {}
        self.diverged = False

    def _note(self, what: str, bad: torch.Tensor, step: int) -> None:
        first = self._first_bad.get(what)
        if first is None or first.device != bad.device:
            first = torch.tensor(-1, device=bad.device)
        step_t = torch.tensor(step, device=bad.device)
        self._first_bad[what] = torch.where(bad & (first < 0), step_t, first)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if not self.check_gradients:
            return
        grads = [p.grad.detach() for p in pl_module.parameters() if p.grad is not None]
        if grads:  # one norm over all gradients: inf/nan anywhere makes it non-finite
            norm = torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(g) for g in grads])
            )
            self._note("gradient", ~torch.isfinite(norm), trainer.global_step + 1)
            if (trainer.global_step + 1) % self.every == 0:
                self.check(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        self._note("loss", ~torch.isfinite(loss.detach()).all(), trainer.global_step)
        if trainer.global_step % self.every == 0:
            self.check(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.check(trainer)

    def on_validation_start(self, trainer, pl_module) -> None:
        if trainer.training or trainer.state.fn == "fit":
            self.check(trainer)

    def check(self, trainer) -> None:
        """Raise if a non-finite loss or gradient was seen (one host sync each)."""
        seen = {what: int(step) for what, step in self._first_bad.items()}
        seen = {what: step for what, step in seen.items() if step >= 0}
        if not seen:
            return
        what, step = min(seen.items(), key=lambda kv: (kv[1], kv[0] != "loss"))  # a NaN loss first
        self.diverged = True
        lrs = [group["lr"] for opt in trainer.optimizers for group in opt.param_groups]
        lr = f"{lrs[0]:.3g}" if lrs else "?"
        ckpt = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
        kept = f"; the last finite checkpoint is {ckpt}" if ckpt else ""
        raise TrainingDiverged(
            f"training diverged: non-finite {what} at step {step} (lr {lr}): lower optimizer.lr, "
            f"add gradient clipping (trainer.gradient_clip_val=1.0) or check the data{kept}"
        )


def slurm_job_id() -> str | None:
    """This Slurm job's id as ``scontrol requeue`` takes it (``<array job>_<task>`` in arrays)."""
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array is not None:
        return f"{array}_{os.environ.get('SLURM_ARRAY_TASK_ID', '0')}"
    return os.environ.get("SLURM_JOB_ID")


def requeued_checkpoint(path: str | Path) -> Path | None:
    """``path`` when this process is a requeued Slurm job and that checkpoint exists, else None.

    >>> requeued_checkpoint("no/such.ckpt") is None
    True
    """
    path = Path(path)
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    return path if restarts > 0 and path.is_file() else None


class Preemption(L.Callback):
    """Save ``<dirpath>/<filename>.ckpt`` when the run is signalled to stop.

    Args:
        dirpath: where the checkpoint goes (the run's ``checkpoints/``, as ``last.ckpt``, so that
            ``ckpt_path=<run>/checkpoints/last.ckpt`` resumes it).
        filename: the checkpoint's name, without ``.ckpt``.
        signals: extra signals that stop the run like SIGTERM (default SIGUSR1, which
            ``scancel --signal=USR1`` and ``sbatch --signal`` send, and SIGUSR2, which submitit
            asks Slurm for before a time limit, in place of its own handler).
        requeue: on one of ``signals`` inside a Slurm job, requeue the job after saving (rank 0
            runs ``scontrol requeue``); a plain SIGTERM (``scancel``) never requeues.
    """

    def __init__(
        self,
        dirpath: str,
        filename: str = "last",
        signals: tuple[str, ...] = ("SIGUSR1", "SIGUSR2"),
        requeue: bool = True,
    ):
        self.path = Path(dirpath) / f"{filename}.ckpt"
        self.signal_names = tuple(signals)
        self.requeue = requeue
        self.received: str | None = None
        self.requeued: str | None = None  # the Slurm job id, once requeued
        self._previous: dict[int, object] = {}

    def _handler(self, signum, frame) -> None:
        self.received = signal.Signals(signum).name
        log.info("received %s: stopping at the end of this step", self.received)
        sigterm = signal.getsignal(signal.SIGTERM)  # Lightning's: sets trainer.received_sigterm
        if callable(sigterm):
            sigterm(signal.SIGTERM, frame)

    def on_fit_start(self, trainer, pl_module) -> None:
        self.received = self.requeued = None
        names = " or ".join(("SIGTERM", *self.signal_names))
        log.info("on %s: save %s and stop", names, self.path)
        if threading.current_thread() is not threading.main_thread():
            return  # Python only lets the main thread install handlers
        for name in self.signal_names:
            signum = getattr(signal, name)
            self._previous[signum] = signal.signal(signum, self._handler)

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
        if self.requeue and self.received in self.signal_names and trainer.is_global_zero:
            self._requeue()

    def _requeue(self) -> None:
        job = slurm_job_id()
        if job is None or shutil.which("scontrol") is None:
            return
        done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
        if done.returncode == 0:
            self.requeued = job
            log.info("requeued Slurm job %s: it resumes from %s when it restarts", job, self.path)
        else:
            log.error("scontrol requeue %s failed: %s", job, done.stderr.strip())


class ResumedLogs(L.Callback):
    """On a resumed fit, drop the logged rows of the steps the run is about to make again.

    A run killed after its last checkpoint (``kill -9``, a node failure) had logged steps past
    it; the resumed run starts again at the checkpoint's step, so those rows would appear twice
    in ``metrics.csv``. Loggers that can (``restore.utils.loggers.CSVLogger``) drop them.
    """

    def on_train_start(self, trainer, pl_module) -> None:
        step = trainer.global_step
        if step == 0 or not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            drop = getattr(logger, "drop_rows_from", None)
            if drop is not None and (n := drop(step)):
                log.info("resumed at step %d: dropped %d logged rows of later steps", step, n)
