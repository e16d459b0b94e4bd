"""Entry-point helpers: user errors as one clear line, not a stack trace."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable

from hydra.errors import InstantiationException

from restore.utils.errors import RestoreError

log = logging.getLogger("restore")


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
    """Turn user errors (bad paths, bad config values, unreadable images) into ``error: ...``.

    Set ``HYDRA_FULL_ERROR=1`` to see the stack trace anyway.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            return fn(*args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except (RestoreError, InstantiationException, FileNotFoundError) as err:
            cause = _root_cause(err)
            message = str(err) if cause is err else f"{err}\n  caused by: {cause}"
            if isinstance(cause, RestoreError | FileNotFoundError):
                message = str(cause)
            log.error(message)
            if _in_multirun():  # let Hydra record this job as failed and go on with the sweep
                kind = type(cause) if isinstance(cause, RestoreError) else RestoreError
                raise kind(message) from None
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(getattr(cause, "exit_code", 1)) from None

    return wrapper
