"""``python -m restore.dip``: run Deep Image Prior on one image or on every image of a folder.

Examples (from the project root)::

    python -m restore.dip task=denoise image=../shared/datasets/Set12/01.png sigma=25
    python -m restore.dip task=sr image=LR.png gt=HR.png scale=4
    python -m restore.dip task=sr image=HR.png synthesize=true scale=4 generator=unet
    python -m restore.dip task=inpaint image=kate.png mask=kate_mask.png
    python -m restore.dip task=denoise dataset=../shared/datasets/CBSD68 sigma=25 crop=128

What ``image`` is depends on ``synthesize`` (default: decided per task):

* denoise: with ``sigma`` and no ``gt`` the image is clean; Gaussian noise is added under the
  published protocol (``RandomState(seed)`` per image, HWC order, no clipping) and the clean
  image is the ground truth. Otherwise the image is the noisy observation.
* sr: the image is the low-resolution observation (``gt``: the HR image, optional). With
  ``synthesize=true`` it is the HR image and the LR is made by MATLAB-compatible ``imresize``
  (``task.lr_kernel``, bicubic by default, as the SR benchmarks).
* inpaint: the image is complete and ``mask`` (white = known) hides pixels; the image is the
  ground truth. With ``synthesize=false`` the image is the observation, ``gt`` optional.

Results go to the Hydra run dir (``outputs/dip/<date>_<time>``): ``restored.png`` (the averaged
output at the ES-WMV detection point), ``final.png``, ``observation.png``, ``curve.png``
(PSNR/VAR curves with the stop marked), ``curves.npz`` and ``summary.json``; for a ``dataset``
one sub-folder per image plus ``results.csv`` and ``summary.json`` with the means.
"""

import csv
import json
import logging
import math
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from restore.data.io import list_images, read_image
from restore.degradations import GaussianNoise, SeededNoise
from restore.degradations.resize import imresize
from restore.dip.module import DIPModule
from restore.metrics import quantize
from restore.utils.cli import clean_errors
from restore.utils.config import CONFIG_DIR
from restore.utils.errors import ConfigError, DataError

log = logging.getLogger("restore.dip")


# -- inputs ------------------------------------------------------------------------------------
@dataclass
class Problem:
    """One DIP problem: the observation, and what is known about it."""

    name: str
    task: str
    observation: Tensor  # (1, C, h, w)
    gt: Tensor | None = None  # (1, C, H, W)
    mask: Tensor | None = None  # (1, 1, H, W), 1 = known
    scale: int = 1


def _is_gray(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            return im.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "F")
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist") from None
    except OSError as err:
        raise DataError(f"cannot read image {path}: {err}") from None


def load_image(path: str | Path, channels: int | None = None) -> Tensor:
    """(1, C, H, W) float in [0, 1]; C from the file (gray: 1, else 3) unless given."""
    path = Path(path)
    channels = channels or (1 if _is_gray(path) else 3)
    array = np.array(read_image(path, channels))  # a writable copy for torch
    return torch.from_numpy(array).permute(2, 0, 1)[None].float().div(255)


def load_mask(path: str | Path) -> Tensor:
    """(1, 1, H, W) binary mask, 1 where the gray value is above one half (white = known)."""
    return (load_image(path, channels=1) > 0.5).float()


def _crop_box(size: tuple[int, int], crop: Any, multiple: int = 1) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the centred crop, all multiples of ``multiple``."""
    h, w = size
    if crop is None:
        ch, cw = h, w
    elif isinstance(crop, int):
        ch = cw = crop
    else:
        ch, cw = (int(v) for v in crop)
    ch, cw = min(ch, h) // multiple * multiple, min(cw, w) // multiple * multiple
    if ch < multiple or cw < multiple:
        raise ConfigError(f"crop={crop} leaves no pixel of a {h}x{w} image (multiple {multiple})")
    top = (h - ch) // 2 // multiple * multiple
    left = (w - cw) // 2 // multiple * multiple
    return top, left, ch, cw


def _apply(x: Tensor | None, box: tuple[int, int, int, int], factor: int = 1) -> Tensor | None:
    if x is None:
        return None
    top, left, h, w = (v * factor for v in box)
    return x[..., top : top + h, left : left + w]


def _check_size(a: Tensor, b: Tensor, what: str) -> None:
    if a.shape[-2:] != b.shape[-2:]:
        raise DataError(f"{what}: sizes differ, {tuple(a.shape[-2:])} vs {tuple(b.shape[-2:])}")


def build_problem(
    task: str,
    image: str | Path,
    gt: str | Path | None = None,
    mask: str | Path | None = None,
    sigma: float | None = None,
    scale: int = 4,
    synthesize: bool | None = None,
    crop: Any = None,
    lr_kernel: str = "cubic",
    seed: int = 0,
) -> Problem:
    """Load and, where asked, degrade an image into a :class:`Problem` (see the module doc)."""
    image = Path(image)
    x = load_image(image)
    c = x.shape[1]
    g = load_image(gt, channels=c) if gt else None
    if synthesize is None:
        synthesize = {
            "denoise": sigma is not None and g is None,
            "sr": False,
            "inpaint": g is None,
        }[task]
    if synthesize and g is not None:
        raise ConfigError("synthesize=true degrades `image` and scores against it: drop `gt`")
    name = image.stem
    if task == "denoise":
        if mask:
            raise ConfigError("mask is only used by task=inpaint")
        if synthesize:
            if sigma is None:
                raise ConfigError("task=denoise with a clean image needs sigma (0-255 scale)")
            # noise over the whole image, then the crop: a crop of the standard noisy image
            noisy = GaussianNoise(sigma=float(sigma), clip=False)(x, SeededNoise([seed]))
            box = _crop_box(x.shape[-2:], crop)
            return Problem(name, task, _apply(noisy, box), gt=_apply(x, box))
        if g is not None:
            _check_size(x, g, f"image {image} and gt {gt}")
        box = _crop_box(x.shape[-2:], crop)
        return Problem(name, task, _apply(x, box), gt=_apply(g, box))
    if task == "sr":
        if mask:
            raise ConfigError("mask is only used by task=inpaint")
        if synthesize:
            hr = _apply(x, _crop_box(x.shape[-2:], crop, multiple=scale))
            lr = imresize(hr, 1.0 / scale, kernel=lr_kernel, emulate_uint8=True)
            return Problem(name, task, lr, gt=hr, scale=scale)
        lr_crop = None if crop is None else [v // scale for v in _pair(crop)]
        box = _crop_box(x.shape[-2:], lr_crop)
        if g is not None:
            expected = (x.shape[-2] * scale, x.shape[-1] * scale)
            if tuple(g.shape[-2:]) != expected:
                raise DataError(
                    f"gt {gt} is {tuple(g.shape[-2:])}, expected {expected} = LR size x scale "
                    f"({scale}); crop the HR image to a multiple of the scale"
                )
        return Problem(name, task, _apply(x, box), gt=_apply(g, box, scale), scale=scale)
    if task == "inpaint":
        if not mask:
            raise ConfigError("task=inpaint needs mask=PATH (white = known pixel)")
        m = load_mask(mask)
        _check_size(x, m, f"image {image} and mask {mask}")
        if g is not None:
            _check_size(x, g, f"image {image} and gt {gt}")
        box = _crop_box(x.shape[-2:], crop)
        truth = x if synthesize else g
        return Problem(name, task, _apply(x, box), gt=_apply(truth, box), mask=_apply(m, box))
    raise ConfigError(f"task must be denoise, sr or inpaint, got {task!r}")


def _pair(crop: Any) -> list[int]:
    return [int(crop)] * 2 if isinstance(crop, int) else [int(v) for v in crop]


# -- running -----------------------------------------------------------------------------------
class _Steps(Dataset):
    """``n`` dummy items: one per optimisation step (DIP has no data to iterate over)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class StepTimer(Callback):
    """Wall time of the steps after the first ``skip`` (allocation, compilation, warm-up)."""

    def __init__(self, skip: int = 1, per_step: bool = False):
        self.skip = skip
        self.per_step = per_step
        self.t0: float | None = None
        self.t_start = self.t_end = 0.0
        self.timed_from = 0
        self.starts: list[float] = []
        self.cpu_starts: list[float] = []

    @staticmethod
    def _sync(module: L.LightningModule) -> None:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)

    def on_train_start(self, trainer, pl_module) -> None:
        self.t_start = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.per_step and batch_idx >= self.skip:
            self._sync(pl_module)
            self.starts.append(time.perf_counter())
            self.cpu_starts.append(time.process_time())
        if batch_idx == self.skip:
            self._sync(pl_module)
            self.t0, self.timed_from = time.perf_counter(), batch_idx

    def on_train_end(self, trainer, pl_module) -> None:
        self._sync(pl_module)
        self.t_end = time.perf_counter()
        self.cpu_end = time.process_time()

    def step_times(self, cpu: bool = False) -> list[float]:
        """Seconds of each timed step, batch start to batch start (``per_step=True``); with
        ``cpu`` the process CPU time instead of the wall time (robust on a shared machine)."""
        if not self.starts:
            return []
        if cpu:
            return list(np.diff([*self.cpu_starts, self.cpu_end]))
        return list(np.diff([*self.starts, self.t_end]))

    def seconds_per_iteration(self, steps: int) -> float | None:
        if self.t0 is None or steps <= self.timed_from:
            return (self.t_end - self.t_start) / steps if steps else None
        return (self.t_end - self.t0) / (steps - self.timed_from)


def build_module(problem: Problem, cfg: DictConfig) -> DIPModule:
    """The generator (from ``cfg.generator``) wrapped in a :class:`DIPModule` for ``problem``."""
    channels = problem.observation.shape[1]
    generator = hydra.utils.instantiate(cfg.generator, out_channels=channels)
    out_size = tuple(problem.gt.shape[-2:]) if problem.gt is not None else None
    task = cfg.task
    return DIPModule(
        generator,
        problem.observation,
        task=problem.task,
        gt=problem.gt,
        mask=problem.mask,
        scale=problem.scale,
        out_size=out_size,
        kernel_type=task.get("kernel_type", "lanczos2"),
        phase=task.get("phase", 0.5),
        input_type=cfg.input_type,
        input_depth=cfg.input_depth,
        input_scale=cfg.input_scale,
        reg_noise_std=cfg.reg_noise_std,
        lr=cfg.lr,
        exp_weight=cfg.exp_weight,
        max_steps=cfg.max_steps,
        early_stopping=OmegaConf.to_container(cfg.early_stopping, resolve=True),
        ssim_every=cfg.ssim_every,
        channels_last=resolve_channels_last(cfg),
        compile=cfg.compile,
    )


def resolve_channels_last(cfg: DictConfig) -> bool:
    """``channels_last: auto``: on for GPUs and 16-bit autocast, where oneDNN/cuDNN convolutions
    are faster in NHWC; off for float32 on the CPU, where NHWC backward convolutions measured
    slower for the skip net (see benchmarks/dip_speed.py)."""
    value = cfg.channels_last
    if isinstance(value, bool):
        return value
    if value != "auto":
        raise ConfigError(f"channels_last must be true, false or auto, got {value!r}")
    accel = str(cfg.trainer.get("accelerator", "auto"))
    gpu = accel in ("gpu", "cuda") or (accel == "auto" and torch.cuda.is_available())
    return gpu or "16" in str(cfg.trainer.precision)


def fit(
    module: DIPModule, cfg: DictConfig, out_dir: Path, timer: StepTimer | None = None
) -> StepTimer:
    """Run ``cfg.max_steps`` optimisation steps of ``module`` with a Lightning Trainer."""
    timer = timer or StepTimer()
    trainer_kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    if trainer_kwargs.get("limit_train_batches") is None:
        trainer_kwargs.pop("limit_train_batches", None)
    logger = CSVLogger(out_dir, name="logs", version="") if cfg.csv_log else False
    trainer = L.Trainer(
        max_steps=cfg.max_steps,
        max_epochs=1,
        logger=logger,
        callbacks=[timer],
        default_root_dir=out_dir,
        enable_checkpointing=False,
        **trainer_kwargs,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*The number of training batches.*")
        trainer.fit(module, train_dataloaders=DataLoader(_Steps(cfg.max_steps), batch_size=None))
    return timer


def _y_channel(x: Tensor) -> Tensor:
    # ITU-R BT.601 luma in the 16-235 range, as MATLAB's rgb2ycbcr used by SR tables.
    if x.shape[1] == 1:
        return x
    w = torch.tensor([65.481, 128.553, 24.966], dtype=x.dtype).view(1, 3, 1, 1)
    return (16.0 + (x * w).sum(1, keepdim=True)) / 255.0


def _scores(x: Tensor, gt: Tensor, scale: int = 1, y_channel: bool = False) -> dict[str, float]:
    """PSNR/SSIM of the 8-bit result (published protocol: clip, round, score)."""
    q = quantize(x)
    out = {
        "psnr": float(peak_signal_noise_ratio(q, gt, data_range=1.0)),
        "ssim": float(structural_similarity_index_measure(q, gt, data_range=1.0)),
    }
    if y_channel:
        b = scale
        qy, gy = _y_channel(q), _y_channel(gt)
        if b and qy.shape[-1] > 2 * b and qy.shape[-2] > 2 * b:
            qy, gy = qy[..., b:-b, b:-b], gy[..., b:-b, b:-b]
        out["psnr_y"] = float(peak_signal_noise_ratio(qy, gy, data_range=1.0))
        out["ssim_y"] = float(structural_similarity_index_measure(qy, gy, data_range=1.0))
    return out


def psnr_in(x: Tensor, gt: Tensor, region: Tensor) -> float | None:
    """PSNR of the 8-bit result over the pixels where ``region`` is 1 (None if there are none)."""
    region = region.expand_as(gt)
    n = float(region.sum())
    if n == 0:
        return None
    mse = float(((quantize(x) - gt) ** 2 * region).sum()) / n
    return 10 * math.log10(1 / max(mse, 1e-20))


def psnr_holes(x: Tensor, gt: Tensor, mask: Tensor) -> float | None:
    """PSNR over the unknown pixels (mask 0) only: what inpainting filled in."""
    return psnr_in(x, gt, 1 - mask)


def _nan_argmax(a: np.ndarray | None) -> tuple[int | None, float | None]:
    if a is None or not np.isfinite(a).any():
        return None, None
    i = int(np.nanargmax(a))
    return i, float(a[i])


def save_png(x: Tensor, path: Path) -> None:
    array = (quantize(x[0]).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(path)


def plot_curves(path: Path, res: dict[str, Any], summary: dict[str, Any]) -> None:
    """PSNR of the raw and averaged outputs (when gt is known) and ES-WMV's VAR, stop marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = res["curves"]
    steps = np.arange(res["steps"])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    handles = []
    if np.isfinite(curves["psnr"]).any():
        handles += ax.plot(steps, curves["psnr"], lw=0.6, alpha=0.5, label="PSNR (output)")
        handles += ax.plot(steps, curves["psnr_avg"], lw=1.2, label="PSNR (EMA output)")
        ax.set_ylabel("PSNR (dB)")
        if summary.get("oracle_iteration") is not None:
            handles += ax.plot(
                [summary["oracle_iteration"]],
                [summary["oracle_psnr"]],
                "k*",
                ms=10,
                label=f"oracle {summary['oracle_psnr']:.2f} dB @ {summary['oracle_iteration']}",
            )
        both = np.concatenate([curves["psnr"], curves["psnr_avg"]])
        finite = both[np.isfinite(both)]
        if finite.size:
            ax.set_ylim(max(finite.min(), finite.max() - 16) - 0.5, finite.max() + 1)
    else:
        handles += ax.semilogy(steps, curves["loss"], lw=0.8, label="loss")
        ax.set_ylabel("loss")
    ax.set_xlabel("iteration")
    var = curves.get("var")
    if var is not None and np.isfinite(var).any():
        ax2 = ax.twinx()
        handles += ax2.semilogy(steps, var, "C3", lw=1.0, label="ES-WMV variance")
        ax2.set_ylabel("windowed variance")
    es = res["es_iteration"]
    if es is not None:
        label = f"ES-WMV detection @ {es}"
        if summary.get("psnr") is not None:
            label += f" ({summary['psnr']:.2f} dB)"
        handles.append(ax.axvline(es, color="k", ls="--", lw=1, label=label))
    stop = res.get("es_stop_step")
    if stop is not None:  # where ES-WMV stopped, or would have stopped (stop_training=false)
        label = "ES-WMV stop" if res["stopped_early"] else "ES-WMV stop (not applied)"
        handles.append(ax.axvline(stop, color="gray", ls=":", lw=1.2, label=f"{label} @ {stop}"))
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_title(f"DIP {summary['task']}: {summary['image']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_one(problem: Problem, cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Fit DIP to ``problem``, write its outputs to ``out_dir`` and return the summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(int(cfg.seed), verbose=False)
    module = build_module(problem, cfg)
    timer = fit(module, cfg, out_dir)
    res = module.results()
    images = res["images"]
    summary: dict[str, Any] = {
        "task": problem.task,
        "image": problem.name,
        "size": list(module.out_size),
        "observation_size": list(problem.observation.shape[-2:]),
        "channels": int(problem.observation.shape[1]),
        "generator": cfg.generator._target_.rsplit(".", 1)[-1],
        "precision": str(cfg.trainer.precision),
        "max_steps": int(cfg.max_steps),
        "steps": res["steps"],
        "stopped_early": res["stopped_early"],
        "es_iteration": res["es_iteration"],
        "es_var": res["es_var"],
        "es_stop_step": res["es_stop_step"],
        "seconds_per_iteration": timer.seconds_per_iteration(res["steps"]),
        "total_seconds": timer.t_end - timer.t_start,
    }
    if problem.gt is not None:
        sr = problem.task == "sr"
        summary |= _scores(images["es"], problem.gt, problem.scale, y_channel=sr)
        if images["es_raw"] is not None:
            summary["psnr_raw_at_es"] = _scores(images["es_raw"], problem.gt)["psnr"]
        final = _scores(images["final"], problem.gt, problem.scale, y_channel=sr)
        summary |= {f"{k}_final": v for k, v in final.items()}
        it, value = _nan_argmax(res["curves"]["psnr_avg"])
        summary["oracle_iteration"], summary["oracle_psnr"] = it, value
        it, value = _nan_argmax(res["curves"]["psnr"])
        summary["oracle_iteration_raw"], summary["oracle_psnr_raw"] = it, value
        if problem.task == "denoise":
            summary["psnr_observation"] = float(
                peak_signal_noise_ratio(problem.observation.clamp(0, 1), problem.gt, data_range=1.0)
            )
        if problem.mask is not None:
            summary["psnr_holes"] = psnr_holes(images["es"], problem.gt, problem.mask)
            summary["psnr_holes_final"] = psnr_holes(images["final"], problem.gt, problem.mask)
            summary["psnr_known"] = psnr_in(images["es"], problem.gt, problem.mask)
        if sr:  # baseline: MATLAB bicubic upscaling of the LR image
            bicubic = imresize(problem.observation, size=tuple(problem.gt.shape[-2:]))
            base = _scores(bicubic, problem.gt, problem.scale, y_channel=True)
            summary |= {f"{k}_bicubic": v for k, v in base.items()}
    save_png(images["es"], out_dir / "restored.png")
    save_png(images["final"], out_dir / "final.png")
    obs = problem.observation * problem.mask if problem.mask is not None else problem.observation
    save_png(obs, out_dir / "observation.png")
    np.savez_compressed(
        out_dir / "curves.npz", **{k: v for k, v in res["curves"].items() if v is not None}
    )
    plot_curves(out_dir / "curve.png", res, summary)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    log.info("%s: %s", problem.name, _one_line(summary))
    return summary


def _one_line(s: dict[str, Any]) -> str:
    parts = [f"{s['steps']} its ({s['seconds_per_iteration'] or math.nan:.3f} s/it)"]
    parts.append(f"ES-WMV @ {s['es_iteration']}")
    if "psnr" in s:
        parts.append(
            f"PSNR {s['psnr']:.2f} dB (oracle {s['oracle_psnr']:.2f} @ "
            f"{s['oracle_iteration']}, final {s['psnr_final']:.2f})"
        )
    return ", ".join(parts)


CSV_FIELDS = [
    "image", "psnr", "ssim", "psnr_y", "ssim_y", "es_iteration", "steps", "oracle_psnr",
    "oracle_iteration", "psnr_final", "ssim_final", "psnr_observation", "psnr_bicubic",
    "psnr_y_bicubic", "psnr_holes", "psnr_known", "seconds_per_iteration",
]  # fmt: skip


def run_dataset(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Every image of ``cfg.dataset``: one sub-folder each, ``results.csv`` and the means."""
    rows = []
    for path in list_images(cfg.dataset, what="dataset folder"):
        problem = _problem_from_cfg(cfg, path, gt=None, mask=None)
        rows.append(run_one(problem, cfg, out_dir / path.stem))
    means = {}
    for key in CSV_FIELDS[1:]:
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            means[key] = float(np.mean(values))
    with open(out_dir / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        writer.writerow({"image": "mean", **means})
    summary = {
        "dataset": str(cfg.dataset),
        "task": cfg.task.name,
        "images": len(rows),
        "mean": means,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    log.info("%s: %d images, mean %s", cfg.dataset, len(rows), means)
    return summary


def _problem_from_cfg(cfg: DictConfig, image: Any, gt: Any, mask: Any) -> Problem:
    return build_problem(
        cfg.task.name,
        image,
        gt=gt,
        mask=mask,
        sigma=cfg.sigma,
        scale=int(cfg.scale),
        synthesize=cfg.synthesize,
        crop=OmegaConf.to_container(cfg.crop) if OmegaConf.is_list(cfg.crop) else cfg.crop,
        lr_kernel=cfg.task.get("lr_kernel", "cubic"),
        seed=int(cfg.seed),
    )


def run(cfg: DictConfig, out_dir: Path | None = None) -> dict[str, Any]:
    """Entry point behind the CLI: one image (``image``) or a folder (``dataset``)."""
    out_dir = Path(out_dir or HydraConfig.get().runtime.output_dir)
    if (cfg.image is None) == (cfg.dataset is None):
        raise ConfigError("give exactly one of image=PATH or dataset=FOLDER")
    if cfg.dataset is not None:
        if cfg.gt or cfg.mask:
            raise ConfigError("dataset=FOLDER runs clean images; gt and mask are per-image keys")
        return run_dataset(cfg, out_dir)
    problem = _problem_from_cfg(cfg, cfg.image, cfg.gt, cfg.mask)
    return run_one(problem, cfg, out_dir)


@hydra.main(config_path=str(CONFIG_DIR), config_name="dip", version_base="1.3")
@clean_errors
def _hydra_main(cfg: DictConfig) -> None:
    run(cfg)


# `task=sr` / `generator=unet` select options of the dip/task and dip/generator groups
_GROUP_OVERRIDE = re.compile(r"^(~|\+\+|\+)?(task|generator)=(.*)$", re.S)


def rewrite_overrides(argv: list[str]) -> list[str]:
    """Map the short forms ``task=X`` / ``generator=X`` to Hydra's ``dip/task@task=X`` (the
    groups live in conf/dip/ so that they do not clash with restore.train's conf/task/)."""
    out = []
    for arg in argv:
        m = _GROUP_OVERRIDE.match(arg)
        out.append(f"{m[1] or ''}dip/{m[2]}@{m[2]}={m[3]}" if m else arg)
    return out


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    sys.argv = [sys.argv[0], *rewrite_overrides(list(argv))]
    _hydra_main()
