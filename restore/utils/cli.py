"""Entry-point helpers: user errors as one clear line, not a stack trace."""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable

from hydra.errors import InstantiationException

from restore.utils.errors import RestoreError

log = logging.getLogger("restore")


# Third-party lines a normal run would print, each harmless here; filtered by message and by the
# module the warning is attributed to, so that any other warning of these libraries still shows.
# (message regex, module regex, why it is harmless)
QUIET_WARNINGS: list[tuple[str, str, str]] = [
    (
        # torch >= 2.10 deprecates `isinstance(x, LeafSpec)`, which Lightning 2.6's pytree helper
        # still calls on every batch; the check gives the same answer either way
        r".*isinstance\(treespec, LeafSpec\)` is deprecated",
        r"lightning\.pytorch\.utilities\._pytree",
        "torch deprecation inside Lightning",
    ),
    (
        # Lightning notices that the task (not the datamodule) defines on_after_batch_transfer:
        # that is the design (the task makes the observation on the device, RestorationTask)
        r"You have overridden `on_after_batch_transfer` in `LightningModule` but have passed in",
        r"lightning\.pytorch\.trainer\.connectors\.data_connector",
        "the task's own hook is the one meant",
    ),
    (
        # the model summary estimates the size in MB at 32 bits under bf16-mixed: only that
        # estimate is affected, the parameter counts are exact
        r"Precision .* is not supported by the model summary",
        r"lightning\.pytorch\.utilities\.model_summary",
        "only the MB estimate of the summary",
    ),
]
# Lightning warns on any machine where `srun` exists (a Slurm login node, a workstation with the
# Slurm client) and the process was not started by it; inside a Slurm job the warning is kept.
SRUN_WARNING = (r"The `srun` command is available on your system but is not used", r"lightning\.")


class _NoTips(logging.Filter):
    """Drops Lightning's advertising lines (``💡 Tip: ... litlogger / litmodels``), which it logs
    through its rank-zero logger at INFO with no switch of its own; its other lines pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip:")


TIP_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "pytorch_lightning.utilities.rank_zero")


def quiet_third_party() -> None:
    """Install the narrow filters above (idempotent): no deprecation, notice or advertising line
    from Lightning or torch in a normal run; every other warning still shows."""
    for message, module, _ in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)
    if "SLURM_JOB_ID" not in os.environ:
        warnings.filterwarnings("ignore", message=SRUN_WARNING[0], module=SRUN_WARNING[1])
    for name in TIP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoTips) for f in logger.filters):
            logger.addFilter(_NoTips())


def _root_cause(err: BaseException) -> BaseException:
    while err.__cause__ is not None and isinstance(err, InstantiationException):
        err = err.__cause__
    return err


def _in_multirun() -> bool:
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.get().mode == RunMode.MULTIRUN
    except (ImportError, ValueError):
        return False


def clean_errors(fn: Callable) -> Callable:
    """Turn user errors (bad paths, bad config values, unreadable images) into ``error: ...``,
    and keep third-party noise out of the run's output (:func:`quiet_third_party`).

    Set ``HYDRA_FULL_ERROR=1`` to see the stack trace anyway.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        quiet_third_party()
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            return fn(*args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except (RestoreError, InstantiationException, FileNotFoundError) as err:
            cause = _root_cause(err)
            message = " ".join(str(err).split())
            if cause is not err:  # "<config key>: <what the class said>", one line
                key = re.search(r"full_key: (\S+)", str(err))
                message = f"{key.group(1) + ': ' if key else ''}{' '.join(str(cause).split())}"
            if isinstance(cause, RestoreError | FileNotFoundError):
                message = str(cause)
            log.error(message)
            if _in_multirun():  # let Hydra record this job as failed and go on with the sweep
                kind = type(cause) if isinstance(cause, RestoreError) else RestoreError
                raise kind(message) from None
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(getattr(cause, "exit_code", 1)) from None

    return wrapper
