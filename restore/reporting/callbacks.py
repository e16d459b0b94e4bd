"""A Hydra callback that writes each job's start, end and exception into the job's own log.

Hydra keeps a failed job's exception in memory only (the sweeper re-raises it once the whole batch
has run, on the terminal): the job's log file otherwise ends with no trace of why. ``JobLog``
writes it there, with the traceback, so that ``restore.report`` can show why a job failed. Its
start and end lines also give the job's wall time. Enable it in ``conf/hydra/default.yaml``::

    callbacks:
      job_log:
        _target_: restore.reporting.callbacks.JobLog
"""

from __future__ import annotations

import logging
import os
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("restore.job")

STARTED = "job started"
FINISHED = "job finished"
FAILED = "job failed"


def one_line(err: BaseException) -> str:
    """``Type: message`` with the message's whitespace (newlines too) collapsed."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}".rstrip(": ")


class JobLog(Callback):
    """Log ``job started`` / ``job finished`` / ``job failed: <Type>: <message>`` (+ traceback)."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        num = OmegaConf.select(config, "hydra.job.num", default=None)
        overrides = OmegaConf.select(config, "hydra.overrides.task", default=None) or []
        log.info(
            "%s (job %s, process %d): %s", STARTED, num, os.getpid(), " ".join(overrides) or "-"
        )

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status == JobStatus.FAILED:
            # ``job_return.return_value`` would re-raise; the exception itself is kept here.
            err = getattr(job_return, "_return_value", None)
            if isinstance(err, BaseException):
                log.error(
                    "%s: %s", FAILED, one_line(err), exc_info=(type(err), err, err.__traceback__)
                )
            else:
                log.error("%s: %r", FAILED, err)
        else:
            log.info("%s (process %d)", FINISHED, os.getpid())
