"""Deep Image Prior as a LightningModule: one Adam step on the generator per ``training_step``.

Ulyanov, Vedaldi & Lempitsky, "Deep Image Prior", CVPR 2018. The image is restored by fitting a
randomly initialised generator ``f_theta`` to the degraded observation ``y`` from a fixed random
code ``z``: ``min_theta ||A(f_theta(z)) - y||`` with ``A`` the known operator of the observation
(:class:`restore.degradations.Observation`): the identity (noise), the downsampler
(super-resolution), the mask (inpainting), the blur, or their composition; the norm is the
observation's ``data_fit`` (squared L2 for Gaussian-like noise, L1 for impulse noise). As in the
authors' notebooks ``z`` is
``U[0, 0.1)`` noise of ``input_depth`` channels (or a 2-channel meshgrid), re-perturbed at every
step by ``reg_noise_std * N(0, 1)``; the reported image is the exponential moving average of
the outputs (``exp_weight``). Early stopping without ground truth is ES-WMV
(:mod:`restore.dip.early_stopping`); with ground truth the PSNR/SSIM curves of the raw and the
averaged output are recorded at every step, on the device.

Nothing in the step reads a value back to the host: curves and early-stopping state live in
preallocated device tensors, and the host only looks at them every ``check_every`` steps (the
stopping test) and at the end (:meth:`DIPModule.results`).
"""

import math
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.functional.image import structural_similarity_index_measure

from restore.dip.early_stopping import ESWMV

DATA_FITS = {"l2": F.mse_loss, "l1": F.l1_loss}


def make_code(input_type: str, depth: int, size: tuple[int, int], scale: float = 0.1) -> Tensor:
    """The fixed input ``z`` of the original ``get_noise``: ``U[0, 1) * scale`` noise of ``depth``
    channels, or the 2-channel ``meshgrid`` of normalised x, y coordinates."""
    h, w = size
    if input_type == "noise":
        return torch.rand(1, depth, h, w) * scale
    if input_type == "meshgrid":
        if depth != 2:
            raise ValueError(f"input_type=meshgrid needs input_depth=2, got {depth}")
        ys = torch.arange(h, dtype=torch.float32) / max(h - 1, 1)
        xs = torch.arange(w, dtype=torch.float32) / max(w - 1, 1)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([gx, gy])[None]
    raise ValueError(f"input_type must be 'noise' or 'meshgrid', got {input_type!r}")


def _psnr(x: Tensor, y: Tensor) -> Tensor:
    # One line on the device; torchmetrics' functional PSNR builds host tensors on every call.
    return -10.0 * torch.log10(F.mse_loss(x, y).clamp_min(1e-20))


class DIPModule(L.LightningModule):
    """Fit a DIP generator to one degraded image.

    Args:
        generator: maps ``z`` (1, input_depth, H, W) to the image (1, C, H, W) in [0, 1].
        observation: the degraded image (1, C, h, w): noisy, low-resolution or masked.
        operator: ``A``, mapping an output (1, C, H, W) to the observation's space; None is the
            identity (the mask alone, when there is one).
        gt: the clean image (1, C, H, W) for PSNR/SSIM curves, or None.
        mask: inpainting mask (1, 1 or C, H, W), 1 = known pixel; the hidden pixels of the
            observation are zeroed (they carry no information).
        scale: observation size * scale = output size, unless ``out_size`` is given.
        out_size: (H, W) of the restored image; defaults from the observation and ``scale``.
        data_fit: "l2" (mean squared error, the paper's) or "l1" (robust to impulse noise).
        input_type / input_depth / input_scale: the code ``z`` (noise 32 x 0.1 as the paper).
        reg_noise_std: std of the Gaussian perturbation added to ``z`` at every step.
        lr: Adam learning rate (0.01).
        exp_weight: EMA weight of the averaged output (0.99); 0 reports the raw output.
        max_steps: iterations (sizes the curves).
        early_stopping: ES-WMV settings ``enabled``, ``window``, ``patience``,
            ``check_every``, ``stop_training`` (False: only detect, run all ``max_steps``).
        ssim_every: SSIM of the averaged output every this many steps (0: never).
        channels_last: run the generator in channels-last memory format (faster convolutions).
        compile: ``torch.compile`` the generator.
        fused_adam: Adam's fused kernel (faster; equal up to rounding, so another trajectory).
    """

    def __init__(
        self,
        generator: nn.Module,
        observation: Tensor,
        operator: Callable[[Tensor], Tensor] | None = None,
        gt: Tensor | None = None,
        mask: Tensor | None = None,
        scale: int = 1,
        out_size: tuple[int, int] | None = None,
        data_fit: str = "l2",
        input_type: str = "noise",
        input_depth: int = 32,
        input_scale: float = 0.1,
        reg_noise_std: float = 1.0 / 30.0,
        lr: float = 0.01,
        exp_weight: float = 0.99,
        max_steps: int = 3000,
        early_stopping: dict[str, Any] | None = None,
        ssim_every: int = 1,
        channels_last: bool = True,
        compile: bool = False,
        fused_adam: bool = False,
    ):
        super().__init__()
        self.fused_adam = bool(fused_adam)
        if observation.dim() != 4 or observation.shape[0] != 1:
            raise ValueError(f"observation must be (1, C, H, W), got {tuple(observation.shape)}")
        if data_fit not in DATA_FITS:
            raise ValueError(f"data_fit must be one of {sorted(DATA_FITS)}, got {data_fit!r}")
        self.data_fit = data_fit
        self.automatic_optimization = False
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.generator = generator.to(memory_format=self.memory_format)
        # not registered as a submodule (it is the generator, or a compiled view of it)
        object.__setattr__(
            self, "_net", torch.compile(self.generator) if compile else self.generator
        )
        h, w = observation.shape[-2:]
        if out_size is None:
            out_size = (h * scale, w * scale)
        self.out_size = (int(out_size[0]), int(out_size[1]))
        if mask is not None:
            mask = mask.float()
            observation = observation * mask  # the unknown pixels carry no information
        self.register_buffer("observation", observation.float())
        self.register_buffer("mask", mask)
        self.register_buffer("gt", gt.float() if gt is not None else None)
        if operator is None:  # the mask follows the module's device through its buffer
            operator = (lambda x: x * self.mask) if mask is not None else (lambda x: x)
        object.__setattr__(self, "operator", operator)
        with torch.no_grad():
            mapped = tuple(operator(torch.zeros(1, observation.shape[1], *self.out_size)).shape)
        if mapped[-2:] != (h, w):
            raise ValueError(
                f"the operator maps a {self.out_size} output to {mapped[-2:]}, not to the "
                f"observation's {(h, w)}: the output size must be the observation's times "
                f"scale={scale}"
            )
        if gt is not None and tuple(gt.shape[-2:]) != self.out_size:
            raise ValueError(f"gt is {tuple(gt.shape[-2:])}, the output {self.out_size}")
        z = make_code(input_type, input_depth, self.out_size, input_scale)
        self.register_buffer("z", z.contiguous(memory_format=self.memory_format))
        # the perturbation is drawn in the generator's layout, as it always was: a contiguous
        # draw is 10x faster for channels-last (``normal_``'s vectorised Box-Muller against one
        # element at a time: 20 ms of a 250 ms bf16 step at 128x128x32) but other numbers,
        # another DIP trajectory (F16 uniform noise: 30.13 dB at the ES-WMV stop, not 30.70)
        self.register_buffer("z_noise", torch.zeros_like(self.z), persistent=False)
        self.register_buffer("z_in", torch.zeros_like(self.z), persistent=False)
        self.reg_noise_std = float(reg_noise_std)
        self.lr = float(lr)
        self.exp_weight = float(exp_weight)
        self.max_steps = int(max_steps)
        es = dict(early_stopping or {})
        self.es_enabled = bool(es.pop("enabled", True))
        self.es_stop_training = bool(es.pop("stop_training", True))
        self.es = ESWMV(max_steps=self.max_steps, **es)
        self.ssim_every = int(ssim_every)
        self.steps_done = 0
        self.stopped_early = False

    # -- Lightning -------------------------------------------------------------------------
    def configure_optimizers(self) -> torch.optim.Optimizer:
        # fused: one kernel over the parameters instead of Adam's ~10 ops per tensor (CPU and
        # CUDA have it): the same update up to rounding, which a DIP trajectory amplifies
        fused = self.fused_adam and self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(self.generator.parameters(), lr=self.lr, fused=fused or None)

    def on_train_start(self) -> None:
        dev = self.device
        nan = math.nan
        self.curves = {
            name: torch.full((self.max_steps,), nan, device=dev)
            for name in ("loss", "psnr", "psnr_avg", "ssim_avg")
        }
        self.avg: Tensor | None = None
        self.last_out: Tensor | None = None

    def forward(self, z: Tensor | None = None) -> Tensor:
        """The generator's output for the code ``z`` (the unperturbed one by default)."""
        return self._net(self.z if z is None else z)

    def perturbed_code(self) -> Tensor:
        """``z + reg_noise_std * N(0, 1)``, a fresh draw (``z`` itself without perturbation),
        in the generator's memory format, written into a reused buffer."""
        if self.reg_noise_std <= 0:
            return self.z
        return torch.add(self.z, self.z_noise.normal_(), alpha=self.reg_noise_std, out=self.z_in)

    def data_term(self, out: Tensor) -> Tensor:
        """``||A(out) - y||`` (mean squared or absolute error, per ``data_fit``), in float32
        whatever the autocast precision. With a mask it is the original's
        ``mse(out * mask, img * mask)``: the mean over all pixels of the masked error, i.e. the
        known-pixel error times a constant Adam is invariant to."""
        with torch.autocast(self.device.type, enabled=False):
            return DATA_FITS[self.data_fit](self.operator(out.float()), self.observation)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        step = batch_idx
        opt = self.optimizers()
        out = self._net(self.perturbed_code())
        loss = self.data_term(out)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        opt.step()
        self._track(out.detach(), loss.detach(), step)
        self.steps_done = step + 1
        if self.es_enabled and self.es_stop_training and self.es.should_stop(step):
            self.stopped_early = True
            self.trainer.should_stop = True

    @torch.no_grad()
    def _track(self, out: Tensor, loss: Tensor, step: int) -> None:
        with torch.autocast(self.device.type, enabled=False):
            out = out.float().contiguous()
            self.last_out = out
            w = self.exp_weight
            if self.avg is None or w == 0:
                self.avg = out.clone()
            else:
                self.avg.mul_(w).add_(out, alpha=1 - w)
            inside = step < self.max_steps
            if inside:
                self.curves["loss"][step] = loss
            metrics = {"train/loss": loss}
            if self.gt is not None:
                psnr, psnr_avg = _psnr(out, self.gt), _psnr(self.avg, self.gt)
                metrics |= {"train/psnr": psnr, "train/psnr_avg": psnr_avg}
                if inside:
                    self.curves["psnr"][step] = psnr
                    self.curves["psnr_avg"][step] = psnr_avg
                if self.ssim_every and step % self.ssim_every == 0:
                    ssim = structural_similarity_index_measure(self.avg, self.gt, data_range=1.0)
                    metrics["train/ssim_avg"] = ssim
                    if inside:
                        self.curves["ssim_avg"][step] = ssim
            if self.es_enabled:
                self.es.update(out, step, {"out": out, "avg": self.avg})
        # tensors only: Lightning keeps them on the device and converts them when it writes the
        # logger (every ``log_every_n_steps``), so this is not a per-step host sync
        self.log_dict(metrics, on_step=True, on_epoch=False, batch_size=1)

    # -- results ---------------------------------------------------------------------------
    @torch.no_grad()
    def results(self) -> dict[str, Any]:
        """Host-side results after ``fit``: curves (numpy, truncated to the steps run), the ES
        detection point and the step where ES-WMV stops (or would stop, when
        ``stop_training`` is off), and the images (float CPU tensors (1, C, H, W)):
        ``final`` / ``final_raw`` (last averaged / raw output) and ``es`` / ``es_raw`` (the
        averaged / raw output at the detection point; the final ones when ES never fired)."""
        n = self.steps_done
        curves = {k: v[:n].float().cpu().numpy() for k, v in self.curves.items()}
        curves["var"] = self.es.history[:n].float().cpu().numpy() if self.es_enabled and n else None
        es_iter, es_var = self.es.detection() if self.es_enabled else (None, None)
        es_stop = self.es.stop_step() if self.es_enabled else None
        final = self.avg.float().cpu()
        images = {"final": final, "final_raw": self.last_out.float().cpu()}
        if es_iter is not None:
            images["es"] = self.es.snapshots["avg"].float().cpu()
            images["es_raw"] = self.es.snapshots["out"].float().cpu()
        else:
            images["es"] = final
            images["es_raw"] = None
        return {
            "steps": n,
            "stopped_early": self.stopped_early,
            "es_iteration": es_iter,
            "es_var": es_var,
            "es_stop_step": es_stop,
            "curves": curves,
            "images": images,
        }
