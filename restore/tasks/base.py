"""The restoration LightningModule every task builds on.

A task receives config-built objects — the network, the loss, the degradation, an optimizer and a
scheduler factory — and owns what is common to all restoration: making the observation of clean
batches on the device (:meth:`RestorationTask.observe`), restoring it
(:meth:`RestorationTask.restore_batch`), the train/val/test loops, metrics per test set under the
published protocol, precision and memory-format handling. ``predict``, the report's grids,
``pipeline``, DIP and the benchmarks call the same two methods. A subclass is a choice of metrics
(and, for inpainting, of what the network sees); it does not change the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.functional.image import peak_signal_noise_ratio

from restore.data.batch import Batch
from restore.degradations import Degradation, Observation, SeededNoise, TorchNoise
from restore.degradations.base import masked
from restore.degradations.resize import imresize
from restore.metrics import quantize, restoration_metrics
from restore.tasks.ensemble import self_ensemble
from restore.utils.config import CHECKPOINT_CONFIG_KEY
from restore.utils.errors import ConfigError, DataError


def modcrop(x: Tensor, scale: int) -> Tensor:
    """Crop the bottom/right so that H and W are multiples of ``scale`` (as the SR benchmarks)."""
    h, w = x.shape[-2:]
    return x[..., : h - h % scale, : w - w % scale]


def _to_float(x: Tensor | None) -> Tensor | None:
    if x is None or x.is_floating_point():
        return x
    return x.float().div_(255)


class RestorationTask(L.LightningModule):
    """Train a network to map degraded images to clean ones.

    Batches are :class:`~restore.data.batch.Batch`: ``target`` (clean, uint8 or float, BCHW),
    optionally ``input`` (a real degraded image, e.g. a blurred photo), ``mask`` and ``seed``
    (per image, for reproducible val/test degradation). When ``input`` is absent,
    :meth:`observe` makes it on the device with ``degradation``: from torch's generator in
    training, from ``RandomState(seed)`` per image in validation and test.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        degradation: Degradation | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: dict[str, Any] | None = None,
        channels_last: bool = True,
        eval_fp32: bool = True,
        compile: bool = False,
        test_set_names: list[str] | None = None,
        scale: int = 1,
        self_ensemble: bool = False,
    ):
        super().__init__()
        self.net = net.to(memory_format=torch.channels_last) if channels_last else net
        self.loss = loss
        self.degradation = degradation
        self.optimizer_factory = optimizer or (lambda params: torch.optim.Adam(params, lr=1e-3))
        self.scheduler_config = dict(scheduler) if scheduler else None
        self.channels_last = channels_last
        self.scale = scale  # output size / input size (super-resolution); 1 for the others
        if degradation is not None and degradation.scale != scale:
            raise ConfigError(
                f"task.scale={scale} but the degradation (noise) {type(degradation).__name__} "
                f"shrinks images {degradation.scale}x: super-resolution takes noise=bicubic or "
                "noise=bicubic_noise at the same scale; the other tasks take scale 1"
            )
        self.eval_fp32 = eval_fp32
        self.self_ensemble = self_ensemble
        self.compile = compile
        self._test_set_names = list(test_set_names) if test_set_names else None
        self.val_metrics = self.make_metrics("val/")
        self.val_input_metrics = self.make_metrics("val/input_")
        self.test_metrics = nn.ModuleDict()
        self.test_records: list[dict[str, Any]] = []
        self.run_config: dict | None = None  # the resolved Hydra config, saved in checkpoints
        self._compiled: Callable | None = None

    # -- setup -------------------------------------------------------------------------------
    @property
    def test_set_names(self) -> list[str]:
        if self._test_set_names is None:
            dm = getattr(self.trainer, "datamodule", None) if self._trainer else None
            names = getattr(dm, "test_set_names", None)
            self._test_set_names = list(names) if names else ["test"]
        return self._test_set_names

    def setup(self, stage: str) -> None:
        if stage == "test":
            for name in self.test_set_names:
                if name not in self.test_metrics:
                    self.test_metrics[name] = nn.ModuleList(
                        [
                            self.make_metrics(f"test/{name}/"),
                            self.make_metrics(f"test/{name}/input_"),
                        ]
                    ).to(self.device)
        if self.compile and self._compiled is None:
            self._compiled = torch.compile(self.net)

    # -- data --------------------------------------------------------------------------------
    def observe(self, batch: Batch, training: bool = False) -> Batch:
        """The batch with its observation: float images in [0, 1], ``input`` (and ``mask``) made
        by ``degradation`` unless the data brought them, channels-last when configured.

        Training draws from torch's generator; evaluation (``training=False``) from
        ``RandomState(seed)`` per image (the published protocol), or seed 0 without seeds.
        """
        target, given = _to_float(batch.target), _to_float(batch.input)
        mask = batch.mask
        if mask is not None:
            mask = _to_float(mask).float().round()
            mask = mask.unsqueeze(1) if mask.dim() == 3 else mask
        if given is not None:  # a real degraded image (paired data): nothing is known about A
            expected = tuple(s * self.scale for s in given.shape[-2:])
            if tuple(target.shape[-2:]) != expected:
                raise DataError(
                    f"targets {tuple(target.shape[-2:])} are not task.scale={self.scale} times "
                    f"their inputs {tuple(given.shape[-2:])}: pairs must be aligned crops"
                )
            obs = Observation(given, mask=mask, scale=self.scale, linear=False)
        elif mask is not None:  # masks from the data: hide the holes
            obs = Observation(target * mask, mask=mask, operator=masked(mask))
        elif self.degradation is None:
            raise ValueError(
                "the batch has no degraded input and the task has no degradation: "
                "choose a noise/degradation config or a paired dataset"
            )
        else:
            target = modcrop(target, self.degradation.scale)
            seeds = batch.seed.tolist() if batch.seed is not None else [0] * len(batch)
            source = TorchNoise() if training else SeededNoise(seeds)
            obs = self.degradation.observe(target, source)
        inp = obs.input
        if self.channels_last:
            target = target.contiguous(memory_format=torch.channels_last)
            inp = inp.contiguous(memory_format=torch.channels_last)
        return batch.replace(target=target, input=inp, mask=obs.mask, observation=obs)

    def on_after_batch_transfer(self, batch: Batch | dict, dataloader_idx: int) -> Batch:
        """Degrade on the device, batched (see :meth:`observe`)."""
        return self.observe(Batch.of(batch), training=self.trainer.training)

    # -- forward -----------------------------------------------------------------------------
    @property
    def network(self) -> Callable:
        """The network as it runs: ``torch.compile``'s wrapper when ``compile``, else ``net``.
        (Never ``compiled or net``: a compiled module's truth value asks the network for len().)"""
        return self.net if self._compiled is None else self._compiled

    def forward(self, x: Tensor) -> Tensor:
        """Restore a degraded batch (eval-mode output of the network)."""
        return self.network(x)

    def restore(self, x: Tensor) -> Tensor:
        """Inference as scored: float32 when ``eval_fp32`` (whatever the training precision),
        averaged over the 8 flips/rotations of the input when ``self_ensemble`` (8x the cost)."""

        def run(t: Tensor) -> Tensor:
            return self_ensemble(self, t) if self.self_ensemble else self(t)

        if self.eval_fp32:
            with torch.autocast(self.device.type, enabled=False):
                return run(x.float()).float()
        return run(x).float()

    def _train_forward(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        x = self.net_input(batch)
        if getattr(self.net, "needs_target", False):  # teacher-forced models (PixelCNN)
            out = self.network(x, batch.target)
        else:
            out = self.network(x)
        pred, aux = out if isinstance(out, tuple) else (out, {})
        return self.finish(pred, batch), aux

    # -- hooks that tasks override (the defaults are denoising's) -----------------------------
    def make_metrics(self, prefix: str) -> MetricCollection:
        """The metrics of one evaluation split, e.g. prefix ``val/`` or ``test/<set>/input_``."""
        return restoration_metrics(prefix)

    def metric_kwargs(self, batch: Batch) -> dict[str, Any]:
        """Keyword arguments for the metric updates (torchmetrics passes each metric its own)."""
        return {}

    def net_input(self, batch: Batch) -> Tensor:
        """What the network sees (inpainting adds the mask as a channel)."""
        return batch.input

    def finish(self, pred: Tensor, batch: Batch) -> Tensor:
        """The network output turned into the restored image (inpainting keeps known pixels)."""
        return pred

    def restore_batch(self, batch: Batch) -> Tensor:
        """Restore an observed batch (see :meth:`observe`) as it is scored (float32 when
        ``eval_fp32``). Methods that fit the observation itself rather than map the input
        (``fits_observation``, e.g. Deep Image Prior) receive the whole observed batch."""
        if getattr(self.net, "fits_observation", False):
            with torch.autocast(self.device.type, enabled=False):
                return self.net.fit_batch(batch).float()
        return self.finish(self.restore(self.net_input(batch)), batch)

    def degraded_view(self, batch: Batch) -> Tensor:
        """The degraded image at the target's size, scored as ``input_``: the input, or its
        MATLAB bicubic upscaling (rounded per pass as on uint8) when it is smaller (SR)."""
        x = batch.input
        if x.shape[-2:] == batch.target.shape[-2:]:
            return x
        return imresize(x.float(), size=tuple(batch.target.shape[-2:]), emulate_uint8=True)

    def per_image_psnr(self, pred: Tensor, target: Tensor, batch: Batch) -> Tensor:
        """(B,) PSNRs of the test report's per-image rows."""
        return peak_signal_noise_ratio(
            pred, target, data_range=1.0, dim=(1, 2, 3), reduction="none"
        )

    # -- loops -------------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        pred, aux = self._train_forward(batch)
        total, terms = self.loss(pred, batch.target, **aux)
        bs = pred.shape[0]
        self.log("train/loss", total, prog_bar=True, batch_size=bs)
        if len(terms) > 1:
            self.log_dict({f"train/{k}": v for k, v in terms.items()}, batch_size=bs)
        return total

    def _no_autocast(self):
        """Metrics in float32: SSIM's convolutions under bf16 autocast lose most of their digits."""
        return torch.autocast(self.device.type, enabled=False)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        pred = quantize(self.restore_batch(batch))
        target = batch.target.float()
        kwargs = self.metric_kwargs(batch)
        with self._no_autocast():
            self.val_metrics.update(pred, target, **kwargs)
            degraded = quantize(self.degraded_view(batch).float())
            self.val_input_metrics.update(degraded, target, **kwargs)
        bs = pred.shape[0]
        self.log_dict(self.val_metrics, batch_size=bs, prog_bar=True)
        self.log_dict(self.val_input_metrics, batch_size=bs)

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> dict:
        name = self.test_set_names[dataloader_idx]
        restored = self.restore_batch(batch)
        target = batch.target.float()
        pred = quantize(restored)
        metrics, input_metrics = self.test_metrics[name]
        kwargs = self.metric_kwargs(batch)
        bs = pred.shape[0]
        per_image = []
        with self._no_autocast():
            degraded = quantize(self.degraded_view(batch).float())
            # forward, image by image: each image's value of every metric (test_per_image.csv),
            # accumulated into the same states as one update with the whole batch
            for i in range(bs):
                one = {k: _image_of(v, i, bs) for k, v in kwargs.items()}
                values = metrics(pred[i : i + 1], target[i : i + 1], **one)
                input_values = input_metrics(degraded[i : i + 1], target[i : i + 1], **one)
                per_image.append({**values, **input_values})
        self.log_dict(metrics, batch_size=bs, add_dataloader_idx=False)
        self.log_dict(input_metrics, batch_size=bs, add_dataloader_idx=False)
        with self._no_autocast():
            psnr = self.per_image_psnr(pred, target, batch)
        names = batch.names(default_start=batch_idx * bs)
        for i in range(bs):
            record = {"set": name, "image": names[i], "psnr": float(psnr[i])}
            for key, value in per_image[i].items():
                record.setdefault(key.rsplit("/", 1)[-1], float(value))
            self.test_records.append(record)
        return {"pred": pred, "input": degraded, "target": target, "set": name}

    def on_test_epoch_start(self) -> None:
        self.test_records = []

    # -- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            raise ConfigError(
                f"model {type(self.net).__name__} has no trainable parameters: "
                "score it with `python -m restore.eval` instead of training it"
            )
        optimizer = self.optimizer_factory(params=params)
        if not self.scheduler_config:
            return optimizer
        cfg = dict(self.scheduler_config)
        scheduler = cfg.pop("scheduler")(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, **cfg}}

    # -- checkpoints -------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.run_config is not None:
            checkpoint[CHECKPOINT_CONFIG_KEY] = self.run_config


def _image_of(value: Any, i: int, batch_size: int) -> Any:
    """Image ``i`` of a per-batch metric argument (a mask), or the argument itself (a flag)."""
    if isinstance(value, Tensor) and value.ndim > 0 and value.shape[0] == batch_size:
        return value[i : i + 1]
    return value
