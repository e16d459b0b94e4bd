"""``python -m restore.dip``: Deep Image Prior on one image or on every image of a folder.

The problem is built from the same ``noise`` group as training and evaluation: the member
degrades the clean ``image`` (``RandomState(seed)``, the published protocol) and its observation
says what DIP fits through (the operator, the mask, the scale, the data term). Examples (from the
project root)::

    python -m restore.dip image=../shared/datasets/Set12/01.png               # Gaussian, sigma 25
    python -m restore.dip image=F16.png noise=salt_pepper crop=128            # L1 data term
    python -m restore.dip image=HR.png noise=bicubic noise.scale=4 model/generator=unet
    python -m restore.dip image=kate.png noise=mask_file noise.path=kate_mask.png
    python -m restore.dip image=NOISY.png observed=true gt=CLEAN.png          # a real observation
    python -m restore.dip dataset=../shared/datasets/Set12 crop=96 noise=uniform

``crop`` takes the centred crop of the clean image before degrading it (as ``restore.eval``'s
``data.test_crop``). Results go to the Hydra run dir (``outputs/dip/<date>_<time>``):
``restored.png`` (the averaged output at the ES-WMV detection point), ``final.png``,
``observation.png``, ``curve.png`` (PSNR/VAR curves with the stop marked), ``curves.npz`` and
``summary.json``; for a ``dataset`` one sub-folder per image plus ``results.csv`` and
``summary.json`` with the means.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from restore import imaging
from restore.degradations import Degradation, SeededNoise
from restore.degradations.resize import imresize
from restore.dip.method import DeepImagePrior, problem_kind
from restore.imaging import quantize
from restore.metrics import region_psnr
from restore.metrics.sr import y_psnr, y_ssim
from restore.reporting.plots import dip_curves
from restore.tasks.base import modcrop
from restore.utils.cli import clean_errors
from restore.utils.config import CONFIG_DIR
from restore.utils.errors import ConfigError, DataError

log = logging.getLogger("restore.dip")


# -- inputs ------------------------------------------------------------------------------------
@dataclass
class Problem:
    """One DIP problem: the observation, and what is known about it."""

    name: str
    observation: Tensor  # (1, C, h, w)
    gt: Tensor | None = None  # (1, C, H, W)
    mask: Tensor | None = None  # (1, 1, H, W), 1 = known
    scale: int = 1
    operator: Callable[[Tensor], Tensor] | None = None  # None: the identity (or the mask)
    data_fit: str = "l2"
    noise: str = "none"
    bit_depth: int = 8  # of the image file: the outputs are written and scored at it

    @property
    def kind(self) -> str:
        return problem_kind(self.mask, self.scale)


def _read(path: str | Path, channels: int | None = None) -> tuple[Tensor, int]:
    """(1, C, H, W) float in [0, 1] at the file's bit depth (8 or 16), upright by its EXIF
    orientation, and that bit depth; C from the file unless given (the one channel policy)."""
    image = imaging.read_image(path)
    x = image.tensor
    if channels:
        x = imaging.match_channels(x, channels, image.bit_depth)
    return x, image.bit_depth


def build_problem(
    image: str | Path,
    degradation: Degradation,
    crop: Any = None,
    seed: int = 0,
    observed: bool = False,
    gt: str | Path | None = None,
) -> Problem:
    """The DIP problem of ``image`` under ``degradation`` (see the module doc)."""
    image = Path(image)
    x, bits = _read(image)
    noise = type(degradation).__name__
    degradation.eval()  # evaluation behaviour: e.g. the bicubic LR rounded as the benchmark files
    if not observed:
        if gt:
            raise ConfigError("observed=false degrades `image` and scores against it: drop gt")
        clean = _crop(modcrop(x, degradation.scale), crop, multiple=degradation.scale)
        obs = degradation.observe(clean, SeededNoise([seed]))
        return Problem(
            image.stem,
            obs.input,
            clean,
            obs.mask,
            obs.scale,
            obs.operator,
            obs.data_fit,
            noise,
            bits,
        )
    scale = degradation.scale
    truth = _read(gt, x.shape[1])[0] if gt else None
    if truth is not None and tuple(truth.shape[-2:]) != (x.shape[-2] * scale, x.shape[-1] * scale):
        raise DataError(
            f"gt {gt} is {tuple(truth.shape[-2:])}, expected the observation's size x {scale} "
            f"(noise.scale) = {(x.shape[-2] * scale, x.shape[-1] * scale)}"
        )
    # the member's operator, read off a clean-sized probe (deterministic members: bicubic, a
    # mask file, noises; a random mask or blur would be a guess)
    probe = degradation.observe(torch.zeros(1, x.shape[1], *(s * scale for s in x.shape[-2:])))
    mask = probe.mask
    lr_crop = None if crop is None else [v // scale for v in _pair(crop)]
    obs = _crop(x, lr_crop)
    if truth is not None:
        truth = imaging.center_crop(truth, [s * scale for s in obs.shape[-2:]])
    if mask is not None:
        mask = imaging.center_crop(mask, [s * scale for s in obs.shape[-2:]])
    operator = None if mask is not None else probe.operator
    return Problem(image.stem, obs, truth, mask, scale, operator, probe.data_fit, noise, bits)


def _crop(x: Tensor, crop: Any, multiple: int = 1) -> Tensor:
    try:
        return imaging.center_crop(x, crop, multiple)
    except ValueError as err:
        raise ConfigError(f"crop: {err}") from None


def _pair(crop: Any) -> list[int]:
    return [int(crop)] * 2 if isinstance(crop, int) else [int(v) for v in crop]


def _scores(
    x: Tensor, gt: Tensor, scale: int = 1, y_channel: bool = False, bits: int = 8
) -> dict[str, float]:
    """PSNR/SSIM of the result rounded to ``bits`` (published protocol: clip, round to 8 bits,
    score; a 16-bit image is rounded to its 16 bits); with ``y_channel`` also the SR protocol's
    (:mod:`restore.metrics.sr`: Y of 8-bit levels, ``scale`` border pixels cropped)."""
    q = quantize(x, bits)
    out = {
        "psnr": float(peak_signal_noise_ratio(q, gt, data_range=1.0)),
        "ssim": float(structural_similarity_index_measure(q, gt, data_range=1.0)),
    }
    if y_channel:
        out["psnr_y"] = float(y_psnr(q, gt, scale)[0])
        out["ssim_y"] = float(y_ssim(q, gt, scale)[0])
    return out


def psnr_in(x: Tensor, gt: Tensor, region: Tensor, bits: int = 8) -> float | None:
    """PSNR of the result rounded to ``bits`` over the pixels where ``region`` is 1 (None if
    there are none): :func:`restore.metrics.region_psnr`."""
    psnr = float(region_psnr(quantize(x, bits), gt, region > 0.5)[0])
    return None if math.isnan(psnr) else psnr


def _nan_argmax(a: np.ndarray | None) -> tuple[int | None, float | None]:
    if a is None or not np.isfinite(a).any():
        return None, None
    i = int(np.nanargmax(a))
    return i, float(a[i])


def run_one(
    problem: Problem,
    method: DeepImagePrior,
    out_dir: Path,
    accelerator: str = "auto",
    csv_log: bool = True,
) -> dict[str, Any]:
    """Fit DIP to ``problem``, write its outputs to ``out_dir`` and return the summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    module = method.module_for(
        problem.observation,
        operator=problem.operator,
        mask=problem.mask,
        scale=problem.scale,
        data_fit=problem.data_fit,
        gt=problem.gt,
        device=torch.device("cpu"),
    )
    logger = CSVLogger(out_dir, name="logs", version="") if csv_log else False
    timer = method.fit(module, accelerator=accelerator, logger=logger, desc=problem.name)
    res = module.results()
    images = res["images"]
    summary: dict[str, Any] = {
        "problem": problem.kind,
        "noise": problem.noise,
        "data_fit": problem.data_fit,
        "image": problem.name,
        "size": list(module.out_size),
        "observation_size": list(problem.observation.shape[-2:]),
        "channels": int(problem.observation.shape[1]),
        "bit_depth": problem.bit_depth,
        "generator": type(module.generator).__name__,
        "precision": method.precision,
        "max_steps": int(module.max_steps),
        "steps": res["steps"],
        "stopped_early": res["stopped_early"],
        "es_iteration": res["es_iteration"],
        "es_var": res["es_var"],
        "es_stop_step": res["es_stop_step"],
        "seconds_per_iteration": timer.seconds_per_iteration(res["steps"]),
        "total_seconds": timer.t_end - timer.t_start,
    }
    bits = problem.bit_depth
    if problem.gt is not None:
        sr = problem.scale > 1
        summary |= _scores(images["es"], problem.gt, problem.scale, y_channel=sr, bits=bits)
        if images["es_raw"] is not None:
            summary["psnr_raw_at_es"] = _scores(images["es_raw"], problem.gt, bits=bits)["psnr"]
        final = _scores(images["final"], problem.gt, problem.scale, y_channel=sr, bits=bits)
        summary |= {f"{k}_final": v for k, v in final.items()}
        it, value = _nan_argmax(res["curves"]["psnr_avg"])
        summary["oracle_iteration"], summary["oracle_psnr"] = it, value
        it, value = _nan_argmax(res["curves"]["psnr"])
        summary["oracle_iteration_raw"], summary["oracle_psnr_raw"] = it, value
        if not sr:  # the observation itself, scored as the evaluation's input row
            observed = _scores(problem.observation, problem.gt, bits=bits)
            summary["psnr_observation"] = observed["psnr"]
        if problem.mask is not None:
            gt, mask = problem.gt, problem.mask
            summary["psnr_holes"] = psnr_in(images["es"], gt, 1 - mask, bits)
            summary["psnr_holes_final"] = psnr_in(images["final"], gt, 1 - mask, bits)
            summary["psnr_known"] = psnr_in(images["es"], gt, mask, bits)
        if sr:  # baseline: MATLAB bicubic upscaling of the LR image
            bicubic = imresize(problem.observation, size=tuple(problem.gt.shape[-2:]))
            base = _scores(bicubic, problem.gt, problem.scale, y_channel=True, bits=bits)
            summary |= {f"{k}_bicubic": v for k, v in base.items()}
    # written at the image's bit depth: a 16-bit input gives 16-bit PNGs
    imaging.write_image(out_dir / "restored.png", images["es"], bits)
    imaging.write_image(out_dir / "final.png", images["final"], bits)
    obs = problem.observation * problem.mask if problem.mask is not None else problem.observation
    imaging.write_image(out_dir / "observation.png", obs, bits)
    np.savez_compressed(
        out_dir / "curves.npz", **{k: v for k, v in res["curves"].items() if v is not None}
    )
    dip_curves(out_dir / "curve.png", res, summary)
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
    if s.get("psnr_observation") is not None:
        parts.append(f"observation {s['psnr_observation']:.2f} dB")
    return ", ".join(parts)


CSV_FIELDS = [
    "image", "psnr", "ssim", "psnr_y", "ssim_y", "es_iteration", "steps", "oracle_psnr",
    "oracle_iteration", "psnr_final", "ssim_final", "psnr_observation", "psnr_bicubic",
    "psnr_y_bicubic", "psnr_holes", "psnr_known", "seconds_per_iteration",
]  # fmt: skip


def _problem(cfg: DictConfig, degradation: Degradation, image: Any) -> Problem:
    crop = OmegaConf.to_container(cfg.crop) if OmegaConf.is_list(cfg.crop) else cfg.crop
    return build_problem(
        image, degradation, crop=crop, seed=int(cfg.seed), observed=cfg.observed, gt=cfg.gt
    )


def run_dataset(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Every image of ``cfg.dataset``: one sub-folder each, ``results.csv`` and the means."""
    method, degradation = hydra.utils.instantiate(cfg.model), hydra.utils.instantiate(cfg.noise)
    rows = []
    for path in imaging.list_images(cfg.dataset, what="dataset folder"):
        problem = _problem(cfg, degradation, path)
        rows.append(run_one(problem, method, out_dir / path.stem, cfg.accelerator, cfg.csv_log))
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
        "noise": type(degradation).__name__,
        "images": len(rows),
        "mean": means,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    log.info("%s: %d images, mean %s", cfg.dataset, len(rows), means)
    return summary


def run(cfg: DictConfig, out_dir: Path | None = None) -> dict[str, Any]:
    """Entry point behind the CLI: one image (``image``) or a folder (``dataset``)."""
    out_dir = Path(out_dir or HydraConfig.get().runtime.output_dir)
    if (cfg.image is None) == (cfg.dataset is None):
        raise ConfigError("give exactly one of image=PATH or dataset=FOLDER")
    if cfg.dataset is not None:
        if cfg.gt or cfg.observed:
            raise ConfigError("dataset=FOLDER runs clean images: drop gt and observed")
        return run_dataset(cfg, out_dir)
    method, degradation = hydra.utils.instantiate(cfg.model), hydra.utils.instantiate(cfg.noise)
    problem = _problem(cfg, degradation, cfg.image)
    return run_one(problem, method, out_dir, cfg.accelerator, cfg.csv_log)


@hydra.main(config_path=str(CONFIG_DIR), config_name="dip", version_base="1.3")
@clean_errors
def main(cfg: DictConfig) -> None:
    run(cfg)
