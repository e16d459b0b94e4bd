"""One run, one directory: a lock file that a second run in the same directory cannot take.

Two runs writing one folder interleave ``metrics.csv`` and overwrite each other's config and
``last.ckpt`` (nothing could resume either). :func:`hold_run_dir` creates ``<dir>/.run.lock``
atomically (``O_CREAT | O_EXCL``) with the holder's host and process id; a second run gets a
one-line :class:`~restore.utils.errors.ConfigError` naming that process. A lock left by a process
that is gone (``kill -9``) is taken over, so resuming a killed run in its own folder works.
Written here because the file locks of the standard library (``fcntl``) do not say who holds them
and vanish silently on network file systems.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from restore.utils.errors import ConfigError

LOCK_NAME = ".run.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by somebody else
        return True
    return True


def _holder(lock: Path) -> tuple[str, int] | None:
    try:
        host, pid = lock.read_text().split()[:2]
        return host, int(pid)
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def hold_run_dir(folder: str | Path, what: str = "hydra.run.dir") -> Iterator[Path]:
    """Hold ``folder`` for this process while the block runs (a no-op on ranks other than 0).

    >>> import tempfile
    >>> with hold_run_dir(tempfile.mkdtemp()) as lock:
    ...     lock.name
    '.run.lock'
    """
    folder = Path(folder)
    lock = folder / LOCK_NAME
    if int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")) or 0) != 0:
        yield lock  # ranks of one DDP job share the folder that rank 0 holds
        return
    folder.mkdir(parents=True, exist_ok=True)
    me = f"{socket.gethostname()} {os.getpid()}\n"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if holder and (holder[0] != socket.gethostname() or _alive(holder[1])):
                raise ConfigError(
                    f"{what} {folder} is in use by process {holder[1]} on {holder[0]}: give this "
                    f"run another {what}, or wait for that one to end"
                ) from None
            lock.unlink(missing_ok=True)  # left by a process that is gone: take it over
            continue
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    else:
        raise ConfigError(f"{what} {folder}: could not take {lock}; another run keeps taking it")
    try:
        yield lock
    finally:
        if _holder(lock) == (socket.gethostname(), os.getpid()):
            lock.unlink(missing_ok=True)


def creatable(folder: str | Path, key: str) -> Path:
    """Create ``folder`` (and its parents) or raise a one-line :class:`ConfigError` naming ``key``.

    >>> creatable("/proc/no/such/run", "hydra.run.dir")
    Traceback (most recent call last):
    ...
    restore.utils.errors.ConfigError: hydra.run.dir /proc/no/such/run cannot be created (No such file or directory: /proc/no): give hydra.run.dir=<a folder you can write>
    """  # noqa: E501
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        where = f": {err.filename}" if err.filename else ""
        raise ConfigError(
            f"{key} {folder} cannot be created ({err.strerror or err}{where}): "
            f"give {key}=<a folder you can write>"
        ) from None
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"{key} {folder} is not writable: give {key}=<a folder you can write>")
    return folder


class CheckRunDir(Callback):
    """A Hydra callback: a run or sweep folder that cannot be created is one line, not Hydra's
    traceback from inside its own job setup (``conf/hydra/default.yaml``)."""

    def _check(self, config: DictConfig, key: str) -> None:
        try:
            creatable(str(OmegaConf.select(config, key)), key)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(1) from None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir")
