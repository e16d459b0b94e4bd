"""One test image restored by every model, the same crop side by side.

Each model is re-run on the first image of the first test set, degraded by its own stored
degradation drawing from ``SeededNoise([data.eval_seed])``: the noisy input is exactly the one
the run was tested on, and identical across runs that share a degradation config. A test set
that brings its own degradation (a real degraded photo of a paired set, an inpainting mask) gives
every model that input instead, as the test did.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from omegaconf import DictConfig
from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio

from restore.data.batch import Batch
from restore.imaging import center_box, quantize, to_channels, to_float
from restore.tasks import RestorationTask


@dataclass
class GridEntry:
    label: str
    psnr: float  # whole image, as scored in the test (8-bit restored image)
    crop_psnr: float


@dataclass
class Grid:
    path: Path
    test_set: str
    image: str
    box: tuple[int, int, int, int]  # top, left, height, width in the clean image
    inputs: list[GridEntry] = field(default_factory=list)
    restored: list[GridEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def load_test_image(
    cfg: DictConfig, test_set: str, image: str | None
) -> tuple[str, np.ndarray, dict[str, Tensor | np.ndarray]]:
    """The image named ``image`` (or the first) of a run's test set as it was scored (the run's
    ``data.test_crop``, modcropped for SR), HxWxC uint8, with what the test set brings beside it
    (``input``: a real degraded image, HxWxC; ``mask``: 1xHxW). Decoded alone: ``cache=false``."""
    datamodule = hydra.utils.instantiate(cfg.data, cache=False)
    dataset = datamodule.test_dataset(test_set)
    names = [ex.name for ex in dataset.examples]
    item = dataset[names.index(image) if image in names else 0]
    given = {"mask": item["mask"]} if item.get("mask") is not None else {}
    if item.get("input") is not None:
        given["input"] = item["input"].permute(1, 2, 0).numpy()
    return item["name"], item["target"].permute(1, 2, 0).numpy(), given


def _crop(x: Tensor, box: tuple[int, int, int, int], scale: float = 1.0) -> Tensor:
    top, left, h, w = (round(v * scale) for v in box)
    return x[..., top : top + h, left : left + w]


def _psnr(pred: Tensor, target: Tensor) -> float:
    return float(peak_signal_noise_ratio(pred, target, data_range=1.0))


def _entry(label: str, image: Tensor, target: Tensor, box: tuple[int, int, int, int]) -> GridEntry:
    return GridEntry(label, _psnr(image, target), _psnr(_crop(image, box), _crop(target, box)))


def restore_image(
    task: RestorationTask,
    pixels: np.ndarray,
    seed: int,
    given: np.ndarray | None = None,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """(clean, degraded, restored) of one image, each 1xCxHxW in [0, 1], quantized to 8 bits;
    ``given`` (HxWxC uint8) and ``mask`` (1xHxW): the test set's own input or mask, which the
    task then uses instead of its degradation."""
    batch = Batch(
        target=to_float(pixels)[None],
        input=to_float(given)[None] if given is not None else None,
        mask=mask[None] if mask is not None else None,
        seed=torch.tensor([seed]),
    )
    with torch.no_grad():  # not inference_mode: Deep Image Prior optimises inside
        batch = task.observe(batch)
        restored = task.restore_batch(batch)
    degraded = batch.input.contiguous()
    if batch.mask is not None:  # show the holes as the method saw them
        degraded = degraded * batch.mask
    return batch.target.contiguous(), quantize(degraded.float()), quantize(restored).contiguous()


class GridBuilder:
    """Clean | each distinct degraded input | each model's output, for one center crop.

    The image is read with the first run's data config, and every run's noise is seeded with
    the first run's ``data.eval_seed``. Models are added one at a time (and can be freed after).
    """

    def __init__(self, cfg: DictConfig, test_set: str, image: str | None, crop: int = 128):
        self.test_set = test_set
        self.image, self.pixels, self.given = load_test_image(cfg, test_set, image)
        self.seed = int(cfg.data.get("eval_seed", 0))
        clean = to_float(self.pixels)[None]
        self.box = center_box(clean.shape[-2], clean.shape[-1], crop)
        self.panels: list[tuple[str, Tensor]] = [("clean", _crop(clean, self.box))]
        self.inputs: list[GridEntry] = []
        self.restored: list[GridEntry] = []
        self.skipped: list[str] = []
        self._seen_inputs: list[Tensor] = []

    def add(self, label: str, noise_label: str, task: RestorationTask, cfg: DictConfig) -> None:
        """Restore the image with ``task`` and add its panel (and its input's, if new)."""
        if task.degradation is None and not self.given:
            self.skipped.append(f"{label}: no degradation to make its input")
            return
        channels = int(cfg.data.channels)
        given = self.given.get("input")
        try:
            pixels = to_channels(self.pixels, channels)
            given = to_channels(given, channels) if given is not None else None
        except ValueError as err:
            self.skipped.append(f"{label}: {err}")
            return
        if self.given:  # the test set's own input or mask, not the run's degradation
            noise_label = (
                f"the {self.test_set} set's own {'input' if given is not None else 'mask'}"
            )
        target, degraded, restored = restore_image(
            task, pixels, self.seed, given, self.given.get("mask")
        )
        if restored.shape[-2:] != target.shape[-2:]:
            shapes = f"{tuple(restored.shape)} != {tuple(target.shape)}"
            self.skipped.append(f"{label}: output and clean image differ in size, {shapes}")
            return
        box, scale = self.box, degraded.shape[-1] / target.shape[-1]
        # one panel per distinct input: the runs' degradations may be named differently (a
        # checkpoint's stored noise, the command line's) and still make the same seeded input
        if not any(
            seen.shape == degraded.shape and torch.equal(seen, degraded)
            for seen in self._seen_inputs
        ):
            self._seen_inputs.append(degraded)
            if scale == 1:
                entry = _entry(noise_label, degraded, target, box)
            else:  # a smaller input (super-resolution) has no PSNR against the clean image
                entry = GridEntry(noise_label, float("nan"), float("nan"))
            self.inputs.append(entry)
            caption = f"input {noise_label}\n{entry.psnr:.2f} dB"
            self.panels.append((caption, _crop(degraded, box, scale)))
        entry = _entry(label, restored, target, box)
        self.restored.append(entry)
        caption = f"{label}\n{entry.psnr:.2f} dB (crop {entry.crop_psnr:.2f})"
        self.panels.append((caption, _crop(restored, box)))

    def save(self, path: Path) -> Grid | None:
        if not self.restored:
            return None
        title = f"{self.test_set} / {self.image}: {self.box[2]}x{self.box[3]} center crop"
        _draw(self.panels, path, title)
        return Grid(
            path, self.test_set, self.image, self.box, self.inputs, self.restored, self.skipped
        )


def _draw(panels: list[tuple[str, Tensor]], path: Path, title: str) -> None:
    cols = min(len(panels), 5)
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(3.2 * cols, 4.0 * rows))
    FigureCanvasAgg(fig)
    for i, (caption, image) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        array = image[0].clamp(0, 1).permute(1, 2, 0).numpy()
        if array.shape[2] == 1:
            ax.imshow(array[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(array, interpolation="nearest")
        # long labels (several overrides) wrapped so that neighbouring titles do not overlap
        lines = [textwrap.fill(line, 34) for line in caption.split("\n")]
        ax.set_title("\n".join(lines), fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=100, bbox_inches="tight")
