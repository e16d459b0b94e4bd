"""Chain restoration stages on images: ``python -m restore.pipeline input=IMG output=DIR [gt=IMG]``.

``conf/pipeline.yaml`` lists the stages, in order, as a mapping ``name -> stage`` (or a list).
A stage is either

* a checkpoint of ``restore.train`` (``ckpt: path``): the task and network are rebuilt from the
  run config stored in the checkpoint and its network weights are loaded; or
* an operator (``_target_``): any callable on a (1, C, H, W) float image, e.g.
  ``restore.pipeline.UnsharpMask`` (kornia's unsharp masking).

Each stage's output is written as ``output/<k>_<name>/<image>.png``. With ``gt`` (a file, or a
folder matched by file name), every stage whose output has the ground truth's size is scored
(PSNR/SSIM of the 8-bit image, RGB, whole image), as is the input; stages at another resolution
(before an SR stage, when the ground truth is high-resolution, or after it otherwise) are listed
as not scored: images are never resized for scoring. Scores go to ``output/pipeline_metrics.csv``
(one row per image and stage) and a printed table of means per stage.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
import torch
from kornia.filters import unsharp_mask
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import Tensor, nn
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)
from tqdm.auto import tqdm

from restore import imaging
from restore.imaging import IMAGE_SUFFIXES
from restore.inference.image_io import match_channels
from restore.inference.loading import load_task
from restore.metrics import quantize
from restore.utils.cli import clean_errors
from restore.utils.config import CONFIG_DIR
from restore.utils.errors import ConfigError, DataError
from restore.utils.tables import text_table

log = logging.getLogger(__name__)


class UnsharpMask(nn.Module):
    """Unsharp masking, ``x + amount * (x - gaussian_blur(x))`` (kornia's ``unsharp_mask`` is
    ``amount = 1``); ``sigma`` in pixels, kernel size ``2 * ceil(3 sigma) + 1`` by default."""

    def __init__(self, sigma: float = 1.0, amount: float = 0.5, kernel_size: int | None = None):
        super().__init__()
        if sigma <= 0 or amount < 0:
            raise ValueError(f"UnsharpMask: sigma > 0 and amount >= 0 needed: {sigma}, {amount}")
        self.sigma, self.amount = float(sigma), float(amount)
        self.kernel_size = int(kernel_size) if kernel_size else 2 * int(np.ceil(3 * sigma)) + 1

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel_size
        sharp = unsharp_mask(x, (k, k), (self.sigma, self.sigma), border_type="reflect")
        return x + self.amount * (sharp - x)


@dataclass
class Stage:
    """A named step: ``fn`` maps a (1, C, H, W) float image to the next one."""

    name: str
    fn: Callable[[Tensor], Tensor]
    description: str


def _load_checkpoint_stage(name: str, path: str | Path, device: torch.device) -> Stage:
    # the platform's one loader: the stored config, built for inference, and its weights
    task = load_task(path, what=f"stages.{name}.ckpt").to(device)
    cfg = OmegaConf.create(task.run_config)
    target = str(cfg.task.get("_target_", ""))
    if target.endswith("InpaintTask"):
        raise ConfigError(f"stages.{name}: an inpainting checkpoint needs a mask per image")
    channels = int(cfg.data.channels)

    @torch.no_grad()
    def run(x: Tensor) -> Tensor:
        # the one channel policy (restore.imaging.match_channels): a gray model restores a colour
        # image's luma, rounded to 8 bits when the image is a decoded 8-bit file, as eval and
        # predict do; a colour model restores a gray image as 3 equal channels
        bits = 8 if torch.equal(x, quantize(x)) else None
        return task.restore(imaging.match_channels(x, channels, bits))

    model = cfg.model.get("_target_", "?").rsplit(".", 1)[-1]
    return Stage(name, run, f"{target.rsplit('.', 1)[-1]} {model} ({Path(path).name})")


def build_stages(stages: DictConfig | ListConfig, device: torch.device) -> list[Stage]:
    """The configured stages, in order; a clear error for each malformed entry."""
    if isinstance(stages, DictConfig):
        items = list(stages.items())
    else:
        items = [(str(s.get("name", i)), s) for i, s in enumerate(stages)]
    if not items:
        raise ConfigError("pipeline: `stages` is empty")
    built = []
    for name, spec in items:
        if spec is None:  # a stage switched off with `stages.<name>=null`
            continue
        if OmegaConf.is_missing(spec, "ckpt"):
            raise ConfigError(
                f"stages.{name}.ckpt is required: give stages.{name}.ckpt=PATH or drop the stage "
                f"with '~stages.{name}'"
            )
        has_ckpt = spec.get("ckpt") is not None
        if has_ckpt == ("_target_" in spec):
            raise ConfigError(f"stages.{name} needs exactly one of `ckpt` or `_target_`")
        if has_ckpt:
            built.append(_load_checkpoint_stage(name, spec.ckpt, device))
        else:
            spec = OmegaConf.masked_copy(spec, [k for k in spec if k != "name"])
            op = hydra.utils.instantiate(spec, _convert_="all")
            if isinstance(op, nn.Module):
                op = op.eval().to(device)
            fn = torch.no_grad()(op)
            built.append(Stage(name, fn, str(spec._target_).rsplit(".", 1)[-1]))
    return built


def _image_files(path: Path, what: str) -> list[Path]:
    if path.is_dir():
        return imaging.list_images(path, what)
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(f"{what} {path} is not an image ({', '.join(IMAGE_SUFFIXES)})")
    return [path]


def _pair_gt(inputs: list[Path], gt: Path | None) -> list[Path | None]:
    if gt is None:
        return [None] * len(inputs)
    if gt.is_file():
        if len(inputs) != 1:
            raise DataError(f"gt={gt} is one file but input holds {len(inputs)} images")
        return [gt]
    by_stem = {p.stem: p for p in _image_files(gt, "gt folder")}
    missing = [p.name for p in inputs if p.stem not in by_stem]
    if missing:
        raise DataError(f"gt folder {gt} has no image named like {missing[:3]} (matched by name)")
    return [by_stem[p.stem] for p in inputs]


def _read(path: Path, channels: int | None, device: torch.device) -> tuple[Tensor, int]:
    """(1, C, H, W) float at the file's bit depth (upright by its EXIF orientation), and that
    depth; ``channels`` (None: the file's) by the one channel policy, as predict's."""
    image = imaging.read_image(path)
    x = image.tensor
    if channels:
        x = match_channels(x, int(channels), path.name, image.bit_depth)
    return x.to(device), image.bit_depth


def _read_gt(path: Path, channels: int, device: torch.device) -> Tensor:
    """The ground truth as 8-bit levels (what the written 8-bit images are scored against)."""
    return imaging.to_float(imaging.read_uint8(path, channels))[None].to(device)


def _score(x: Tensor, gt: Tensor | None) -> tuple[float | None, float | None, str]:
    if gt is None:
        return None, None, "no gt"
    if x.shape[-2:] != gt.shape[-2:]:
        return None, None, f"size {tuple(x.shape[-2:])} != gt {tuple(gt.shape[-2:])}"
    if x.shape[1] == 1 and gt.shape[1] == 3:  # a gray stage's output: scored against gt's luma
        gt = imaging.match_channels(gt, 1)
    if x.shape[1] != gt.shape[1]:
        return None, None, f"{x.shape[1]} channels != gt {gt.shape[1]}"
    pred = quantize(x.float())
    psnr = peak_signal_noise_ratio(pred, gt, data_range=1.0)
    ssim = structural_similarity_index_measure(pred, gt, data_range=1.0)
    return float(psnr), float(ssim), "scored"


def run_pipeline(cfg: DictConfig) -> list[dict]:
    """Run every stage on every input image; returns the per-image, per-stage rows."""
    if cfg.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(cfg.device)
    for key in ("input", "output"):
        if OmegaConf.is_missing(cfg, key):
            raise ConfigError(f"pipeline: {key}=PATH is required")
    inputs_path, output = Path(cfg.input), Path(cfg.output)
    inputs = _image_files(inputs_path, "input")
    gts = _pair_gt(inputs, Path(cfg.gt) if cfg.get("gt") else None)
    stages = build_stages(cfg.stages, device)
    rows = []
    # a bar over the images x stages where stderr is a terminal
    bar = tqdm(total=len(inputs) * len(stages), unit="stage", disable=None, dynamic_ncols=True)
    for path, gt_path in zip(inputs, gts, strict=True):
        x, bits = _read(path, cfg.get("channels"), device)
        gt = _read_gt(gt_path, x.shape[1], device) if gt_path else None
        trail = [("input", "", x)]
        for k, stage in enumerate(stages, start=1):
            bar.set_description(f"{path.name}: {stage.name}", refresh=False)
            x = stage.fn(x).float().clamp(0, 1)
            bar.update(1)
            # at the input's bit depth: a 16-bit photo gives 16-bit PNGs
            imaging.write_image(output / f"{k}_{stage.name}" / f"{path.stem}.png", x, bits)
            trail.append((stage.name, stage.description, x))
        for step, (name, description, y) in enumerate(trail):
            psnr, ssim, note = _score(y, gt)
            rows.append(
                {
                    "image": path.stem,
                    "step": step,
                    "stage": name,
                    "what": description,
                    "height": y.shape[-2],
                    "width": y.shape[-1],
                    "psnr": psnr,
                    "ssim": ssim,
                    "note": note,
                }
            )
    bar.close()
    output.mkdir(parents=True, exist_ok=True)
    with open(output / "pipeline_metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print("\n" + format_table(rows) + "\n")
    return rows


def format_table(rows: list[dict]) -> str:
    """Mean PSNR/SSIM per stage over the images where the stage was scored."""
    header = ["step", "stage", "size", "PSNR", "SSIM", "what", "scored"]
    lines = []
    steps: dict[int, list[dict]] = {}
    for r in rows:
        steps.setdefault(r["step"], []).append(r)
    for step, group in sorted(steps.items()):
        scored = [r for r in group if r["psnr"] is not None]
        psnr = np.mean([r["psnr"] for r in scored]) if scored else float("nan")
        ssim = np.mean([r["ssim"] for r in scored]) if scored else float("nan")
        first = group[0]
        size = f"{first['height']}x{first['width']}"
        note = f"{len(scored)}/{len(group)} images" if scored else f"no: {first['note']}"
        lines.append([step, first["stage"], size, psnr, ssim, first["what"] or "-", note])
    return text_table(header, lines, ["<5", "<12", ">10", ">8.2f", ">8.4f", "  <36", "<"])


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="pipeline")
@clean_errors
def main(cfg: DictConfig) -> None:
    run_pipeline(cfg)


if __name__ == "__main__":
    main()
