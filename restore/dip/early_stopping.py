"""ES-WMV: early stopping of Deep Image Prior without ground truth.

Wang, Li, Zhuang, Chen, Liang & Sun, "Early Stopping for Deep Image Prior", TMLR 2023
(arXiv:2110.12271), Algorithm 1. The reconstruction quality of DIP rises then falls (the network
eventually fits the noise); the running variance of the iterates has its valley near the quality
peak. With the last ``window`` outputs ``x_{t-W+1..t}``

    VAR_t = 1/W * sum_i ||x_i - mean(x_{t-W+1..t})||^2 / n_pixels,

the detection point is the iteration of the smallest ``VAR_t`` so far, and training stops when no
new minimum appeared for ``patience`` iterations (the authors' ``EarlyStop.check_stop``).

The authors keep the window as a Python list of numpy images and recompute the variance from it
at every step. Here everything stays on the outputs' device: a ring buffer of the window, the
window mean and the sum of squared deviations updated in O(n) per step by the sliding-window
Welford recurrence (float64, so thousands of updates do not drift), the minimum, its iteration
and snapshots of the outputs at that iteration kept with ``torch.where``. Nothing is read back to
the host except in :meth:`should_stop`, which callers invoke every ``check_every`` steps.
"""

import math

import numpy as np
import torch
from torch import Tensor


class ESWMV:
    """Windowed-moving-variance detector (ES-WMV) that lives on the device of the outputs.

    Args:
        window: ``W``, number of recent outputs in the variance (paper default 100).
        patience: ``P``, iterations without a new variance minimum before stopping (paper: 1000
            for Gaussian denoising).
        check_every: :meth:`should_stop` reads the detection point back to the host only on
            steps ``s`` with ``(s + 1) % check_every == 0``; the stop then comes at most
            ``check_every - 1`` steps after ``best + patience``.
        max_steps: length of the recorded VAR history (NaN where undefined).
    """

    def __init__(
        self, window: int = 100, patience: int = 1000, check_every: int = 50, max_steps: int = 0
    ):
        if window < 1 or patience < 1 or check_every < 1:
            raise ValueError("early_stopping.window, patience and check_every must be >= 1")
        self.window, self.patience, self.check_every = int(window), int(patience), int(check_every)
        self.max_steps = int(max_steps)
        self.count = 0  # outputs seen (host-side integer: no synchronisation needed)
        self.first_step: int | None = None
        self.snapshots: dict[str, Tensor] = {}
        self.detected: int | None = None  # last detection point read back by should_stop

    def _allocate(self, x: Tensor) -> None:
        n = x.numel()
        dev = x.device
        self.buffer = torch.empty(self.window, n, device=dev, dtype=torch.float32)
        self.mean = torch.zeros(n, device=dev, dtype=torch.float64)
        self.m2 = torch.zeros((), device=dev, dtype=torch.float64)
        self.best_var = torch.full((), math.inf, device=dev, dtype=torch.float64)
        self.best_iter = torch.full((), -1, device=dev, dtype=torch.long)
        self.step_t = torch.zeros((), device=dev, dtype=torch.long)  # device copy of the step
        self.history = torch.full((self.max_steps,), math.nan, device=dev, dtype=torch.float64)

    @torch.no_grad()
    def update(self, x: Tensor, step: int, snapshots: dict[str, Tensor] | None = None) -> None:
        """Add the output of iteration ``step`` (consecutive steps); keep ``snapshots`` (tensors
        of any shape, e.g. the raw and the averaged output) as they are at the VAR minimum."""
        if self.count == 0:
            self._allocate(x)
            self.first_step = step
            self.step_t.fill_(step)
        elif step != self.first_step + self.count:
            raise ValueError(
                f"ES-WMV expects consecutive steps, got {step} after "
                f"{self.first_step + self.count - 1}"
            )
        else:
            self.step_t += 1
        x32 = x.detach().reshape(-1).float()
        xd = x32.double()
        w, k = self.window, self.count
        if k < w:  # filling the window: Welford's online update
            self.buffer[k].copy_(x32)
            delta = xd - self.mean
            self.mean += delta / (k + 1)
            self.m2 += torch.dot(delta, xd - self.mean)
        else:  # sliding: replace the oldest output (Welford with removal)
            slot = k % w
            old = self.buffer[slot].double()
            self.buffer[slot].copy_(x32)
            diff = xd - old
            new_mean = self.mean + diff / w
            self.m2 += torch.dot(diff, xd - new_mean + old - self.mean)
            self.mean = new_mean
        self.count += 1
        if self.count < w:
            return
        var = self.m2.clamp(min=0) / (w * x32.numel())
        if 0 <= step < self.history.numel():
            self.history[step] = var
        improved = var < self.best_var
        self.best_var = torch.where(improved, var, self.best_var)
        self.best_iter = torch.where(improved, self.step_t, self.best_iter)
        for name, value in (snapshots or {}).items():
            value = value.detach()
            if name not in self.snapshots:
                self.snapshots[name] = value.clone()
            else:
                self.snapshots[name] = torch.where(improved, value, self.snapshots[name])

    def should_stop(self, step: int) -> bool:
        """True when ``step`` is at least ``patience`` after the VAR minimum. Reads the device
        only every ``check_every`` steps (returns False on the others)."""
        if self.count < self.window or (step + 1) % self.check_every:
            return False
        self.detected = int(self.best_iter.item())
        return self.detected >= 0 and step - self.detected >= self.patience

    def stop_step(self) -> int | None:
        """The step at which :meth:`should_stop` fires (or would fire, when training went on),
        replayed on the host from the recorded VAR history; None if it never does."""
        if self.count < self.window:
            return None
        history = self.history.cpu().numpy()
        best, best_t = np.inf, -1
        for t, v in enumerate(history):
            if np.isnan(v):
                continue
            if v < best:
                best, best_t = v, t
            if (t + 1) % self.check_every == 0 and t - best_t >= self.patience:
                return t
        return None

    def detection(self) -> tuple[int | None, float | None]:
        """The iteration of the VAR minimum and its value (a host read; call at the end)."""
        if self.count < self.window:
            return None, None
        return int(self.best_iter.item()), float(self.best_var.item())
