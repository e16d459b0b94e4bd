"""The restoration LightningModule every task builds on.

A task receives config-built objects — the network, the loss, the degradation, an optimizer and a
scheduler factory — and owns what is common to all restoration: degrading clean batches on the
device, the train/val/test loops, metrics per test set under the published protocol, precision
and memory-format handling. Subclasses change how inputs are made or scored, not the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.functional.image import peak_signal_noise_ratio

from restore.degradations import Degradation, SeededNoise, TorchNoise
from restore.metrics import quantize, restoration_metrics
from restore.utils.errors import ConfigError


class RestorationTask(L.LightningModule):
    """Train a network to map degraded images to clean ones.

    Batches are dicts: ``target`` (clean, uint8 or float, BCHW), optionally ``input`` (a real
    degraded image, e.g. a blurred photo) and ``seed`` (per image, for reproducible val/test
    degradation). When ``input`` is absent it is made on the device by ``degradation``: from
    torch's generator in training, from ``RandomState(seed)`` per image in validation and test.
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
    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """Convert to float and degrade on the device, batched."""
        batch = dict(batch)
        for key in ("target", "input"):
            if key in batch and batch[key].dtype == torch.uint8:
                batch[key] = batch[key].float().div_(255)
        if "input" not in batch:
            if self.degradation is None:
                raise ValueError(
                    "the batch has no degraded input and the task has no degradation: "
                    "choose a noise/degradation config or a paired dataset"
                )
            training = self.trainer.training
            source = TorchNoise() if training else SeededNoise(batch["seed"].tolist())
            batch["input"] = self.degradation(batch["target"], source)
        if self.channels_last:
            for key in ("target", "input"):
                batch[key] = batch[key].contiguous(memory_format=torch.channels_last)
        return batch

    # -- forward -----------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        """Restore a degraded batch (eval-mode output of the network)."""
        return (self._compiled or self.net)(x)

    def restore(self, x: Tensor) -> Tensor:
        """Inference as scored: float32 when ``eval_fp32`` (whatever the training precision),
        averaged over the 8 flips/rotations of the input when ``self_ensemble`` (8x the cost)."""
        # imported here: restore.inference builds tasks, so it cannot be imported at module level
        from restore.inference.ensemble import self_ensemble

        def run(t: Tensor) -> Tensor:
            return self_ensemble(self, t) if self.self_ensemble else self(t)

        if self.eval_fp32:
            with torch.autocast(self.device.type, enabled=False):
                return run(x.float()).float()
        return run(x).float()

    def _train_forward(self, batch: dict) -> tuple[Tensor, dict[str, Tensor]]:
        x = self.net_input(batch)
        if getattr(self.net, "needs_target", False):  # teacher-forced models (PixelCNN)
            out = (self._compiled or self.net)(x, batch["target"])
        else:
            out = (self._compiled or self.net)(x)
        pred, aux = out if isinstance(out, tuple) else (out, {})
        return self.finish(pred, batch), aux

    # -- hooks that tasks override (the defaults are denoising's) -----------------------------
    def make_metrics(self, prefix: str) -> MetricCollection:
        """The metrics of one evaluation split, e.g. prefix ``val/`` or ``test/<set>/input_``."""
        return restoration_metrics(prefix)

    def metric_kwargs(self, batch: dict) -> dict[str, Any]:
        """Keyword arguments for the metric updates (torchmetrics passes each metric its own)."""
        return {}

    def net_input(self, batch: dict) -> Tensor:
        """What the network sees (inpainting adds the mask as a channel)."""
        return batch["input"]

    def finish(self, pred: Tensor, batch: dict) -> Tensor:
        """The network output turned into the restored image (inpainting keeps known pixels)."""
        return pred

    def restore_batch(self, batch: dict) -> Tensor:
        """Restore a batch as it is scored (float32 when ``eval_fp32``)."""
        return self.finish(self.restore(self.net_input(batch)), batch)

    def degraded_view(self, batch: dict) -> Tensor:
        """The degraded image at the target's size, scored as ``input_`` (SR: bicubic upscaling)."""
        return batch["input"]

    def per_image_psnr(self, pred: Tensor, target: Tensor, batch: dict) -> Tensor:
        """(B,) PSNRs of the test report's per-image rows."""
        return peak_signal_noise_ratio(
            pred, target, data_range=1.0, dim=(1, 2, 3), reduction="none"
        )

    # -- loops -------------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        pred, aux = self._train_forward(batch)
        total, terms = self.loss(pred, batch["target"], **aux)
        bs = pred.shape[0]
        self.log("train/loss", total, prog_bar=True, batch_size=bs)
        if len(terms) > 1:
            self.log_dict({f"train/{k}": v for k, v in terms.items()}, batch_size=bs)
        return total

    def _no_autocast(self):
        """Metrics in float32: SSIM's convolutions under bf16 autocast lose most of their digits."""
        return torch.autocast(self.device.type, enabled=False)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        pred = quantize(self.restore_batch(batch))
        target = batch["target"].float()
        kwargs = self.metric_kwargs(batch)
        with self._no_autocast():
            self.val_metrics.update(pred, target, **kwargs)
            degraded = quantize(self.degraded_view(batch).float())
            self.val_input_metrics.update(degraded, target, **kwargs)
        bs = pred.shape[0]
        self.log_dict(self.val_metrics, batch_size=bs, prog_bar=True)
        self.log_dict(self.val_input_metrics, batch_size=bs)

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict:
        name = self.test_set_names[dataloader_idx]
        restored = self.restore_batch(batch)
        target = batch["target"].float()
        pred = quantize(restored)
        metrics, input_metrics = self.test_metrics[name]
        kwargs = self.metric_kwargs(batch)
        with self._no_autocast():
            degraded = quantize(self.degraded_view(batch).float())
            metrics.update(pred, target, **kwargs)
            input_metrics.update(degraded, target, **kwargs)
        bs = pred.shape[0]
        self.log_dict(metrics, batch_size=bs, add_dataloader_idx=False)
        self.log_dict(input_metrics, batch_size=bs, add_dataloader_idx=False)
        with self._no_autocast():
            psnr = self.per_image_psnr(pred, target, batch)
        names = batch.get("name", [str(batch_idx)] * bs)
        for i in range(bs):
            self.test_records.append({"set": name, "image": names[i], "psnr": float(psnr[i])})
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
            checkpoint["restore_config"] = self.run_config
