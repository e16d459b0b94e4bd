"""Autoregressive decoding time of the conditional gated PixelCNN (restore.archs.pixelcnn).

Greedy decoding of one image (batch 1) of 32x32 and 64x64, gray and colour, with

* ``cached`` (what ``PixelCNN.autoregressive_decode`` does): every activation is computed once;
  the vertical stack row by row, the horizontal stack pixel by pixel from per-layer caches of the
  current row (see that method's docstring). Measured in full (best of ``--repeats``).
* ``row_window``: per sub-pixel, a teacher-forced pass over only the rows the current row can
  see, [r-1-L*p, r], all columns (conditioning maps cached once and sliced): the "recompute the
  receptive field" scheme.
* ``full``: per sub-pixel, a teacher-forced pass over the whole image (conditioning cached).

The two baselines are too slow to run in full; they are timed on ``--probe`` sub-pixel steps at
rows spread evenly over the image and extrapolated to all H*W*C steps (``"extrapolated": true``).
Both baselines are checked to give exactly the cached decoder's logits at the probed pixels.

Models: ``default`` = the constructor defaults (width 64, 8 layers, 5x5, cond width 64, the
paper-scale setting) and ``config`` = conf/model/pixelcnn.yaml (the small CPU setting), random
weights (decoding time does not depend on them). One thread, CPU unless --device says otherwise.
The load average is recorded: the machine may be shared, which inflates the times.

Results (2-core CPU shared with other jobs, load average ~5, 1 thread, torch 2.14; seconds for
one image, baselines extrapolated; experiments/results/pixelcnn_decode.json)::

    model    image        cached  row_window    full
    default  gray 32x32     0.31        11.4     48
    default  gray 64x64     1.36       206      670
    default  RGB  32x32     0.82        66      110
    default  RGB  64x64     3.07       342     1873
    config   gray 32x32     0.13         2.2      4.0
    config   gray 64x64     0.56         8.7    101
    config   RGB  32x32     0.45         8.9     32
    config   RGB  64x64     1.68        30      396

Batch 8 of gray 32x32 (default model) takes 0.73 s, 0.09 s per image.

Run: ``.venv/bin/python benchmarks/pixelcnn_decode.py`` (about 3 minutes); writes
experiments/results/pixelcnn_decode.json.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere, without installing the package
from restore.archs.pixelcnn import PixelCNN  # noqa: E402


def config_kwargs() -> dict:
    cfg = OmegaConf.load(ROOT / "conf" / "model" / "pixelcnn.yaml")
    cfg = OmegaConf.to_container(cfg)
    return {k: v for k, v in cfg.items() if k not in ("_target_", "in_channels", "out_channels")}


def arch_of(kwargs: dict) -> dict:
    """The architecture hyper-parameters: the constructor's defaults updated with ``kwargs``."""
    params = inspect.signature(PixelCNN).parameters
    arch = {k: v.default for k, v in params.items() if k not in ("in_channels", "out_channels")}
    return arch | kwargs


def batched_decode(repeats: int, device: str) -> dict:
    """Batching amortises the per-op overhead: default model, 32x32 gray, batch 8 vs 1."""
    net = PixelCNN(1).to(device).eval()
    out = {}
    for batch in (1, 8):
        y = torch.rand(batch, 1, 32, 32, device=device)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            net.autoregressive_decode(y)
            times.append(time.perf_counter() - t0)
        out[f"batch_{batch}"] = {"seconds": min(times), "seconds_per_image": min(times) / batch}
    return out


def baseline_step_seconds(
    net: PixelCNN, y: Tensor, image: Tensor, logits: Tensor, scheme: str, probes: int
) -> tuple[float, float]:
    """Mean seconds of one sub-pixel step of a recompute baseline, and the largest deviation of
    its logits from the cached decoder's (it is fed the cached decoder's output as context)."""
    _, n_ch, height, width = image.shape
    cond = net.conditioning(y)
    reach = net.n_layers * net.p + 1  # rows above the current one that it can see
    rows = torch.linspace(0, height - 1, probes).round().long().tolist()
    cols = torch.linspace(0, width - 1, probes).round().long().tolist()
    seconds, dev = 0.0, 0.0
    for r, c in zip(rows, cols, strict=True):
        k = (r * 7 + c) % n_ch
        top = 0 if scheme == "full" else max(0, r - reach)
        bottom = height if scheme == "full" else r + 1
        t0 = time.perf_counter()
        window_cond = [(cv[:, :, top:bottom], ch[:, :, top:bottom]) for cv, ch in cond]
        out = net.ar_logits(image[:, :, top:bottom], window_cond)
        choice = out[:, k, :, r - top, c].argmax(-1)
        seconds += time.perf_counter() - t0
        assert choice.numel() == 1
        dev = max(dev, (out[:, k, :, r - top, c] - logits[:, k, :, r, c]).abs().max().item())
    return seconds / probes, dev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--probe", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(ROOT / "experiments/results/pixelcnn_decode.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {"default": {}, "config": config_kwargs()}
    results = []
    for model_name, kwargs in models.items():
        for channels in (1, 3):
            net = PixelCNN(channels, **kwargs).to(args.device).eval()
            for side in (32, 64):
                y = torch.rand(1, channels, side, side, device=args.device)
                net.autoregressive_decode(y[..., :4, :4])  # warm-up
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    image, logits = net.autoregressive_decode(y)
                    times.append(time.perf_counter() - t0)
                steps = channels * side * side
                with torch.inference_mode():
                    full_dev = (net.logits(y, image) - logits).abs().max().item()
                    base = {
                        s: baseline_step_seconds(net, y, image, logits, s, args.probe)
                        for s in ("row_window", "full")
                    }
                entry = {
                    "model": model_name,
                    "arch": arch_of(kwargs),
                    "channels": channels,
                    "size": [side, side],
                    "batch": 1,
                    "subpixel_steps": steps,
                    "cached": {
                        "seconds": min(times),
                        "seconds_all_repeats": times,
                        "ms_per_subpixel": 1e3 * min(times) / steps,
                        "max_abs_logit_diff_vs_full_pass": full_dev,
                    },
                }
                for scheme, (step_s, dev) in base.items():
                    entry[scheme] = {
                        "seconds": step_s * steps,
                        "extrapolated": True,
                        "probed_steps": args.probe,
                        "ms_per_subpixel": 1e3 * step_s,
                        "max_abs_logit_diff_vs_cached": dev,
                        "speedup_of_cached": step_s * steps / min(times),
                    }
                results.append(entry)
                print(
                    f"{model_name:8s} C={channels} {side}x{side}: cached {min(times):7.2f} s | "
                    f"row_window ~{entry['row_window']['seconds']:8.1f} s | "
                    f"full ~{entry['full']['seconds']:8.1f} s | logit diff {full_dev:.1e}",
                    flush=True,
                )
    batching = batched_decode(args.repeats, args.device)
    print(f"default C=1 32x32 batching: {batching}")
    report = {
        "benchmark": "PixelCNN greedy autoregressive decoding, batch 1",
        "device": args.device,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_at_end": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "results": results,
        "batching_default_gray_32x32": batching,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
