"""Checkpoints written atomically beside their final name (Lightning's ``CheckpointIO`` plugin).

Lightning's ``TorchCheckpointIO`` saves local files through an fsspec transaction, which writes
into the system temp directory and moves the file at commit: a kill mid-save leaves a partial
file in ``/tmp`` for every interrupted save, and the move across file systems is a copy, not
atomic. :class:`AtomicCheckpointIO` writes ``.<name>.<pid>.tmp`` in the checkpoint's own folder,
fsyncs it and renames it over the final name (atomic on POSIX), so a checkpoint under its name is
always complete; a temporary file left by a killed process is removed by the next save into that
folder. Remote paths (``s3://`` ...) keep Lightning's behaviour.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the ``.*.<pid>.tmp`` files in ``folder`` whose writer process is gone."""
    removed = []
    for tmp in folder.glob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local saves are a same-folder write + fsync + rename.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> AtomicCheckpointIO().save_checkpoint({"step": 3}, folder / "last.ckpt")
    >>> sorted(p.name for p in folder.iterdir())
    ['last.ckpt']
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if "://" in str(path) and not str(path).startswith("file://"):
            return super().save_checkpoint(checkpoint, path, storage_options)
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        path = Path(str(path).removeprefix("file://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent)
        tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return None
