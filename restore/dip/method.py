"""Deep Image Prior as a restoration method of the ``model`` group (``model=dip``).

Trained models map a degraded input to an estimate; DIP instead fits a fresh generator to each
observation, through the observation's known operator (:class:`restore.degradations.Observation`:
identity, mask, downsampler, blur, or their composition) and the data term that suits its noise.
As a ``model`` it declares ``fits_observation``, so the task hands it the whole observed batch
(:meth:`restore.tasks.RestorationTask.restore_batch`) and ``python -m restore.eval model=dip``
scores it on the same seeded inputs as any trained checkpoint, in the same tables and reports.
``python -m restore.dip`` (``restore/dip/run.py``) runs the same method on single images and
writes its curves.

The per-problem settings of the paper's notebooks (iterations, code perturbation, ES-WMV
patience) are ``schedules``, chosen by what the observation is: ``inpaint`` when it has a mask,
``sr`` when it is smaller than the output, else ``denoise``; any of them set explicitly wins.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from restore.data.batch import Batch
from restore.degradations.base import Observation
from restore.dip.module import DIPModule
from restore.utils.errors import ConfigError
from restore.utils.timing import clock

PROBLEMS = ("denoise", "sr", "inpaint")
SCHEDULED = ("max_steps", "reg_noise_std", "patience")


def problem_kind(mask: Tensor | None, scale: int) -> str:
    """``inpaint`` (a mask), ``sr`` (a smaller observation) or ``denoise`` (the rest)."""
    if mask is not None:
        return "inpaint"
    return "sr" if scale > 1 else "denoise"


class _Steps(Dataset):
    """``n`` dummy items: one per optimisation step (DIP has no data to iterate over)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class StepTimer(Callback):
    """Wall time of the steps after the first ``skip`` (allocation, compilation, warm-up).

    Stamps of the platform's wall clock (:data:`restore.utils.timing.clock`) at batch starts,
    differenced per step; the process CPU time beside them.
    """

    def __init__(self, skip: int = 1, per_step: bool = False):
        self.skip = skip
        self.per_step = per_step
        self.t0: float | None = None
        self.t_start = self.t_end = 0.0
        self.cpu_end = 0.0
        self.timed_from = 0
        self.starts: list[float] = []
        self.cpu_starts: list[float] = []

    @staticmethod
    def _sync(module: L.LightningModule) -> None:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)

    def on_train_start(self, trainer, pl_module) -> None:
        self.t_start = clock()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.per_step and batch_idx >= self.skip:
            self._sync(pl_module)
            self.starts.append(clock())
            self.cpu_starts.append(time.process_time())
        if batch_idx == self.skip:
            self._sync(pl_module)
            self.t0, self.timed_from = clock(), batch_idx

    def on_train_end(self, trainer, pl_module) -> None:
        self._sync(pl_module)
        self.t_end = clock()
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


class IterationBar(Callback):
    """A tqdm bar over the optimisation steps, with the PSNR of the averaged output (when the
    ground truth is known) or the data term; shown only where the output is a terminal.

    The postfix is read from the logged metrics every ``every`` steps (a host read; the bar
    itself costs none). ``disable``: tqdm's (None: off where stderr is not a terminal);
    ``tqdm_kwargs``: more of tqdm's arguments (e.g. ``mininterval``).
    """

    def __init__(
        self,
        total: int,
        desc: str = "DIP",
        every: int = 50,
        disable: bool | None = None,
        **tqdm_kwargs: Any,
    ):
        self.total, self.desc, self.every = total, desc, max(1, int(every))
        self.disable = disable
        self.tqdm_kwargs = tqdm_kwargs
        self.bar: tqdm | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self.bar = tqdm(
            total=self.total,
            desc=self.desc,
            unit="it",
            leave=False,
            disable=self.disable,
            dynamic_ncols=True,
            **self.tqdm_kwargs,
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        if (batch_idx + 1) % self.every == 0 and not self.bar.disable:
            metrics = trainer.callback_metrics
            key = "train/psnr_avg" if "train/psnr_avg" in metrics else "train/loss"
            if key in metrics:
                name = "PSNR" if key.endswith("psnr_avg") else "loss"
                self.bar.set_postfix_str(f"{name} {float(metrics[key]):.2f}", refresh=False)

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_train_end(self, trainer, pl_module) -> None:
        self._close()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._close()


@contextmanager
def _quiet_lightning():
    """Silence the per-fit notices of the inner Trainer (device lines, data-loader hints)."""
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            warnings.filterwarnings("ignore", ".*The number of training batches.*")
            yield
    finally:
        logger.setLevel(level)


class DeepImagePrior(nn.Module):
    """Deep Image Prior (Ulyanov et al., CVPR 2018) with ES-WMV auto-stop, as a method.

    Args:
        generator: a factory ``generator(out_channels=C)`` (a ``_partial_`` config of
            ``conf/model/generator/``: skip, unet, resnet, segnet).
        schedules: per problem kind (denoise, sr, inpaint), ``max_steps``, ``reg_noise_std``
            and ES-WMV ``patience``, as the paper's notebooks.
        max_steps / reg_noise_std / patience: set to override the schedule of every problem.
        input_type / input_depth / input_scale / lr / exp_weight / ssim_every / compile /
            fused_adam: as :class:`~restore.dip.module.DIPModule`.
        early_stopping: ES-WMV ``enabled``, ``window``, ``check_every``, ``stop_training``.
        precision: the inner Trainer's precision (``bf16-mixed``: the generator in bf16
            autocast; the data term, EMA, metrics and ES stay float32).
        channels_last: true, false or ``auto`` (NHWC on GPUs and with 16-bit autocast, where it
            is faster; NCHW for float32 on the CPU, where NHWC backward convolutions measured
            slower for the skip net, see benchmarks/dip_speed.py).
        seed: seeds the code ``z`` and the generator's initialisation of every image.
        progress: a bar over the iterations of each image (:class:`IterationBar`), shown where
            the output is a terminal.
        in_channels / out_channels: unused (the output has the observation's channels); they
            let task configs that set them on any model compose with DIP.
    """

    fits_observation = True

    def __init__(
        self,
        generator: Callable[..., nn.Module],
        schedules: Mapping[str, Mapping[str, Any]],
        max_steps: int | None = None,
        reg_noise_std: float | None = None,
        patience: int | None = None,
        input_type: str = "noise",
        input_depth: int = 32,
        input_scale: float = 0.1,
        lr: float = 0.01,
        exp_weight: float = 0.99,
        early_stopping: Mapping[str, Any] | None = None,
        ssim_every: int = 0,
        precision: str = "bf16-mixed",
        channels_last: bool | str = "auto",
        compile: bool = False,
        fused_adam: bool = False,
        seed: int = 0,
        log_every_n_steps: int = 50,
        progress: bool = True,
        in_channels: int | None = None,
        out_channels: int | None = None,
    ):
        super().__init__()
        missing = [k for k in PROBLEMS if k not in schedules]
        if missing:
            raise ConfigError(f"model.schedules lacks {missing}: give each of {PROBLEMS}")
        if channels_last not in (True, False, "auto"):
            raise ConfigError(f"model.channels_last must be true, false or auto: {channels_last}")
        self.generator_factory = generator
        self.schedules = {k: dict(v) for k, v in schedules.items()}
        self.overrides = {
            k: v
            for k, v in {
                "max_steps": max_steps,
                "reg_noise_std": reg_noise_std,
                "patience": patience,
            }.items()
            if v is not None
        }
        self.code = {"input_type": input_type, "input_depth": input_depth, "scale": input_scale}
        self.lr, self.exp_weight, self.ssim_every = lr, exp_weight, ssim_every
        self.early_stopping = dict(early_stopping or {})
        self.precision = str(precision)
        self.channels_last = channels_last
        self.compile = compile
        self.fused_adam = bool(fused_adam)
        self.seed = seed
        self.log_every_n_steps = log_every_n_steps
        self.progress = bool(progress)

    def settings(self, kind: str) -> dict[str, Any]:
        """The schedule of a problem kind, with explicit settings applied."""
        return {**self.schedules[kind], **self.overrides}

    def _channels_last(self, device: torch.device) -> bool:
        if self.channels_last != "auto":
            return bool(self.channels_last)
        return device.type == "cuda" or "16" in self.precision

    def module_for(
        self,
        observation: Tensor,
        operator: Callable[[Tensor], Tensor] | None = None,
        mask: Tensor | None = None,
        scale: int = 1,
        data_fit: str = "l2",
        gt: Tensor | None = None,
        device: torch.device | None = None,
    ) -> DIPModule:
        """A :class:`DIPModule` for one observation (1, C, h, w), seeded with ``seed``."""
        kind = problem_kind(mask, scale)
        settings = self.settings(kind)
        L.seed_everything(int(self.seed), verbose=False)
        device = device or observation.device
        generator = self.generator_factory(out_channels=observation.shape[1])
        return DIPModule(
            generator,
            observation,
            operator=operator,
            gt=gt,
            mask=mask,
            scale=scale,
            out_size=tuple(gt.shape[-2:]) if gt is not None else None,
            data_fit=data_fit,
            input_type=self.code["input_type"],
            input_depth=self.code["input_depth"],
            input_scale=self.code["scale"],
            reg_noise_std=settings["reg_noise_std"],
            lr=self.lr,
            exp_weight=self.exp_weight,
            max_steps=int(settings["max_steps"]),
            early_stopping={**self.early_stopping, "patience": int(settings["patience"])},
            ssim_every=self.ssim_every,
            channels_last=self._channels_last(device),
            compile=self.compile,
            fused_adam=self.fused_adam,
        )

    def fit(
        self,
        module: DIPModule,
        accelerator: str = "auto",
        logger: Any = False,
        timer: StepTimer | None = None,
        limit_train_batches: int | None = None,
        desc: str = "DIP",
    ) -> StepTimer:
        """Run up to ``module.max_steps`` optimisation steps with a Lightning Trainer (``desc``
        names the image on the progress bar)."""
        timer = timer or StepTimer()
        callbacks: list[Callback] = [timer]
        if self.progress:
            total = min(module.max_steps, limit_train_batches or module.max_steps)
            callbacks.append(IterationBar(total, desc, every=self.log_every_n_steps))
        kwargs = {"limit_train_batches": limit_train_batches} if limit_train_batches else {}
        with _quiet_lightning():  # the Trainer's device lines too, once per image
            trainer = L.Trainer(
                max_steps=module.max_steps,
                max_epochs=1,
                accelerator=accelerator,
                devices=1,
                precision=self.precision,
                logger=logger,
                callbacks=callbacks,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                log_every_n_steps=self.log_every_n_steps,
                **kwargs,
            )
            steps = DataLoader(_Steps(module.max_steps), batch_size=None)
            trainer.fit(module, train_dataloaders=steps)
        return timer

    def parameter_count(self, channels: int) -> int:
        """Parameters of the generator fitted to each image of ``channels`` channels."""
        return sum(p.numel() for p in self.generator_factory(out_channels=channels).parameters())

    def forward(self, x: Tensor) -> Tensor:
        """Restore images observed through the identity (noise only), e.g. photos given to
        ``restore.predict``: each fitted with the ``denoise`` schedule and the L2 data term."""
        return self.fit_batch(Batch(target=x, input=x, observation=Observation(x)))

    def fit_batch(self, batch: Batch) -> Tensor:
        """Restore an observed batch (one image at a time; the ES-WMV detection point's
        averaged output of each). Runs with gradients, also inside an evaluation loop."""
        obs = batch.observation
        if obs is None:
            raise ValueError("DIP needs the observed batch (RestorationTask.observe)")
        if len(batch) != 1 and (obs.mask is not None or obs.scale != 1 or not obs.linear):
            raise ConfigError(
                "DIP restores one image at a time: evaluate it with test batches of 1"
            )
        if batch.input.is_inference():
            raise ConfigError(
                "DIP optimises a network per image and needs autograd: run the evaluation "
                "loop with trainer.inference_mode=false (restore.eval does for model=dip)"
            )
        device = batch.input.device
        accelerator = "gpu" if device.type == "cuda" else device.type
        outputs = []
        with torch.enable_grad():  # evaluation loops run under no_grad
            for i in range(len(batch)):
                y = batch.input[i : i + 1].contiguous()
                mask = obs.mask[i : i + 1] if obs.mask is not None else None
                operator = obs.operator if len(batch) == 1 else None
                module = self.module_for(
                    y,
                    operator=operator,
                    mask=mask,
                    scale=obs.scale,
                    data_fit=obs.data_fit,
                    device=device,
                )
                self.fit(module, accelerator=accelerator)
                res = module.results()
                outputs.append(res["images"]["es"].to(device))
        return torch.cat(outputs)
