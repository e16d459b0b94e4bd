"""Restore a user's photos: ``python -m restore.predict ckpt_path=... input=... output=...``.

Inputs are already degraded photos: nothing is added to them unless ``degrade=true`` (demos),
which applies the checkpoint's configured degradation with a fixed seed first. Every image is
restored in overlapping tiles (``restore.inference.tiling``), so any size fits in memory, and is
written to ``output`` under its own name, in its own format and bit depth.

``overlap=auto`` and ``blend=auto`` size the tiles' margins by the network's receptive radius
when its graph shows one (:func:`~restore.inference.receptive.receptive_radius`; DnCNN-17: 17):
each output pixel is then copied from one tile and the result equals the untiled one, with the
least redundant compute. Networks that see further (U-Nets) keep 32-pixel margins cross-faded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import cv2
import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from restore.data.batch import Batch
from restore.imaging import read_image, write_image
from restore.inference.image_io import list_inputs, match_channels, to_mode
from restore.inference.loading import load_task, model_channels
from restore.inference.receptive import receptive_radius
from restore.inference.tiling import axis_layout, tiled_apply
from restore.tasks import RestorationTask
from restore.tasks.ensemble import self_ensemble
from restore.utils.cli import clean_errors
from restore.utils.config import CONFIG_DIR
from restore.utils.errors import ConfigError, DataError
from restore.utils.timing import Stopwatch

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
# overlap (and blend) of overlap=auto for networks whose receptive radius is unknown or unbounded
FALLBACK_OVERLAP = 32


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else Apple MPS, else the CPU; otherwise the named device."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"device={name} is not a torch device (auto, cpu, cuda, ...)") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name} but CUDA is not available: use device=auto or cpu")
    return device


def restore_tensor(
    task: RestorationTask,
    x: Tensor,
    tile: int | None = 512,
    overlap: int = 32,
    device: torch.device | None = None,
    precision: str = "fp32",
    tile_batch: int = 1,
    ensemble: bool = False,
    progress: str | None = None,
    blend: int | None = None,
) -> Tensor:
    """Restore a (B, C, H, W) batch in [0, 1] with the task's network, tile by tile; with
    ``ensemble``, each tile is the x8 self-ensemble (mean over its 8 flips/rotations);
    ``progress`` labels a bar over the tiles and ``blend`` is the cross-fade band (None:
    ``overlap``; 0: tiles' centres copied) of :func:`~restore.inference.tiling.tiled_apply`.
    ``precision="bf16"`` runs the network under bfloat16 autocast; the result is float32."""
    device = device or next(task.parameters()).device
    dtype = PRECISIONS[precision]

    def run(t: Tensor) -> Tensor:
        if task.channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            return (self_ensemble(task, t) if ensemble else task(t)).float()

    return tiled_apply(
        run,
        x,
        tile=tile,
        overlap=overlap,
        scale=task.scale,
        blend=blend,
        batch=tile_batch,
        device=device,
        progress=progress,
    )


def demo_degrade(task: RestorationTask, x: Tensor, seed: int) -> Tensor:
    """The checkpoint's configured degradation of a clean batch, drawn from ``RandomState(seed)``
    (the task's own :meth:`~restore.tasks.RestorationTask.observe`, as in its test)."""
    if task.degradation is None:
        raise ConfigError("degrade=true but the checkpoint has no configured degradation (noise)")
    seeds = torch.full((x.shape[0],), seed, dtype=torch.long)
    return task.observe(Batch(target=x, seed=seeds)).input.contiguous()


def _check_task(task: RestorationTask) -> None:
    """Refuse tasks whose network needs more than the photo (inpainting needs the hole mask)."""
    base = getattr(RestorationTask, "net_input", None)
    if base is not None and type(task).net_input is not base:
        raise ConfigError(
            f"{type(task).__name__} checkpoints need more than a photo as input (e.g. a mask): "
            "restore.predict handles denoising, deblurring and super-resolution checkpoints"
        )


def _fit(alpha: np.ndarray | None, like: Tensor) -> np.ndarray | None:
    """The alpha plane resized (bicubic) to an image that changed size (super-resolution)."""
    if alpha is None or alpha.shape == tuple(like.shape[-2:]):
        return alpha
    return cv2.resize(alpha, (like.shape[-1], like.shape[-2]), interpolation=cv2.INTER_CUBIC)


def _margin(cfg: DictConfig, key: str) -> int | str:
    """``cfg[key]`` (overlap or blend): ``auto`` or a count of pixels >= 0."""
    value = cfg.get(key, "auto")
    if value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key}={value}: give auto or a number of pixels >= 0")
    return value


def _check(cfg: DictConfig) -> None:
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f"precision={cfg.precision}: choose one of {', '.join(PRECISIONS)}")
    for key in ("overlap", "blend"):
        _margin(cfg, key)
    threads = cfg.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)):
        raise ConfigError(f"threads={threads}: give a number of threads >= 1, or null")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads={threads}: give a number of threads >= 1, or null")


def tile_margins(cfg: DictConfig, task: RestorationTask) -> tuple[int, int]:
    """The (overlap, blend) to tile with: ``auto`` resolved by the network's receptive radius.

    ``overlap=auto``: the radius when the graph shows one, else :data:`FALLBACK_OVERLAP`;
    ``blend=auto``: 0 (each pixel copied from one tile: tiled == untiled) when the overlap covers
    a known radius, else the overlap (a cross-fade hides the seams).

    Raises:
        ConfigError: the tiles are too small for the margins.
    """
    overlap, blend = _margin(cfg, "overlap"), _margin(cfg, "blend")
    radius = receptive_radius(task.net) if "auto" in (overlap, blend) else None
    if overlap == "auto":
        overlap = radius if radius is not None else FALLBACK_OVERLAP
    if blend == "auto":
        blend = 0 if radius is not None and overlap >= radius else overlap
    if cfg.tile is not None and cfg.tile <= 2 * overlap + blend:
        raise ConfigError(
            f"tile={cfg.tile} must exceed 2 * overlap + blend ({2 * overlap + blend}, overlap="
            f"{overlap}, blend={blend}): tiles discard `overlap` pixels at each inner side and "
            "cross-fade over `blend` more"
        )
    return int(overlap), int(blend)


def check_output_dir(out_dir: Path, key: str = "output") -> None:
    """Refuse a folder that cannot be made: it, or a folder above it, is a file."""
    for path in (out_dir, *out_dir.parents):
        if path.exists():
            if not path.is_dir():
                where = "is a file" if path == out_dir else f"is under {path}, a file"
                raise ConfigError(f"{key}={out_dir} {where}: give a folder")
            return


def predict(cfg: DictConfig) -> list[Path]:
    """Restore every image of ``cfg.input`` into ``cfg.output``; returns the written paths.

    A bar over the files (and one over the tiles of a large image) shows where stderr is a
    terminal."""
    _check(cfg)
    files = list_inputs(cfg.input)
    out_dir = Path(cfg.output)
    check_output_dir(out_dir)
    if any(out_dir.resolve() == f.parent.resolve() for f in files):
        raise ConfigError(
            f"output={out_dir} is the input folder: restored images would overwrite it"
        )
    device = resolve_device(cfg.device)
    if cfg.get("threads") is not None:
        torch.set_num_threads(int(cfg.threads))
    task = load_task(cfg.ckpt_path).to(device)
    _check_task(task)
    channels = model_channels(task)
    tile = int(cfg.tile) if cfg.tile else None
    overlap, blend = tile_margins(cfg, task)
    log.info(
        "restoring %d image(s) on %s (%s, %d threads, tile=%s, overlap=%d, blend=%d) into %s",
        len(files),
        device,
        cfg.precision,
        torch.get_num_threads(),
        tile,
        overlap,
        blend,
        out_dir,
    )
    with logging_redirect_tqdm():  # log lines print above the bars, not through them
        bar = tqdm(files, desc="restoring", unit="image", disable=None, dynamic_ncols=True)
        margins = (overlap, blend)
        written, failed = _restore_files(cfg, task, channels, tile, margins, device, out_dir, bar)
    if failed:
        raise DataError(f"{len(failed)} file(s) could not be read: {', '.join(failed)}")
    return written


def _restore_files(
    cfg: DictConfig,
    task: RestorationTask,
    channels: int,
    tile: int | None,
    margins: tuple[int, int],
    device: torch.device,
    out_dir: Path,
    files: Iterable[Path],
) -> tuple[list[Path], list[str]]:
    """Restore and write each file; returns the written paths and the unreadable files."""
    overlap, blend = margins
    written, failed = [], []
    for path in files:
        watch = Stopwatch().start()
        try:
            image = read_image(path)
        except DataError as err:  # one bad file does not stop a folder
            log.error("skipping %s", err)
            failed.append(path.name)
            continue
        x = match_channels(image.tensor, channels, path.name, image.bit_depth)
        if cfg.degrade:
            x = demo_degrade(task, x.to(device), int(cfg.seed)).cpu()
            degraded = out_dir / "degraded" / path.name
            alpha = _fit(image.alpha, x)
            write_image(degraded, to_mode(x, image.mode), image.bit_depth, alpha, cfg.jpeg_quality)
        height, width = x.shape[-2:]
        if tile is not None and max(height, width) > tile:  # minutes on a CPU: say so first
            rows, cols = (len(axis_layout(n, tile, overlap, blend)[0]) for n in (height, width))
            log.info("%s: %dx%d in %d tiles of %d", path.name, width, height, rows * cols, tile)
        restored = restore_tensor(
            task,
            x,
            tile,
            overlap,
            device,
            cfg.precision,
            int(cfg.tile_batch),
            bool(cfg.self_ensemble),
            progress=path.name,
            blend=blend,
        )
        alpha = _fit(image.alpha, restored)
        restored = to_mode(restored, image.mode)
        target = out_dir / path.name
        write_image(target, restored, image.bit_depth, alpha, cfg.jpeg_quality)
        height, width = image.size
        log.info(
            "%s: %dx%d %s %d-bit -> %s (%.2f s)",
            path.name,
            width,
            height,
            image.mode,
            image.bit_depth,
            target,
            watch.seconds(),
        )
        written.append(target)
    return written, failed


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="predict")
@clean_errors
def main(cfg: DictConfig) -> None:
    predict(cfg)


if __name__ == "__main__":
    main()
