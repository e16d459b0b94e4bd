"""Plots of a comparison and of a Deep Image Prior run: matplotlib's object API on the Agg canvas
(no display, no pyplot)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from restore.reporting.runs import Run, finite


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def set_names(runs: list[Run]) -> list[str]:
    names: list[str] = []
    for run in runs:
        names += [str(m["set"]) for m in run.metrics if str(m["set"]) not in names]
    return names


def psnr_bars(runs: list[Run], path: Path) -> Path | None:
    """Grouped bars: PSNR of every successful run on each test set."""
    runs = [r for r in runs if r.ok]
    sets = set_names(runs)
    if not runs or not sets:
        return None
    width = 0.8 / len(runs)
    fig = Figure(figsize=(max(6.0, 1.2 + len(sets) * len(runs) * 0.5), 4.5))
    ax = fig.add_subplot()
    x = np.arange(len(sets))
    for i, run in enumerate(runs):
        by_set = {str(m["set"]): m.get("psnr") for m in run.metrics}
        values = [by_set.get(s) if finite(by_set.get(s)) else np.nan for s in sets]
        bars = ax.bar(x + (i - (len(runs) - 1) / 2) * width, values, width, label=run.label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, sets)
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("PSNR per test set")
    lows = [m["psnr"] for r in runs for m in r.metrics if finite(m.get("psnr"))]
    if lows:
        ax.set_ylim(max(0.0, min(lows) - 3), max(lows) + 1.5)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def swept_sigmas(runs: list[Run]) -> list[float]:
    return sorted({r.sigma for r in runs if r.ok and r.sigma is not None})


def psnr_vs_sigma(runs: list[Run], path: Path) -> Path | None:
    """PSNR against the noise level, one line per model setting, one panel per test set.

    Drawn only when ``noise.sigma`` takes two values or more among the successful runs; the
    dashed line is the noisy input's PSNR.
    """
    runs = [r for r in runs if r.ok and r.sigma is not None]
    if len(swept_sigmas(runs)) < 2:
        return None
    sets = set_names(runs)
    fig = Figure(figsize=(5.0 * len(sets), 4.0))
    for k, name in enumerate(sets):
        ax = fig.add_subplot(1, len(sets), k + 1)
        lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
        inputs: dict[float, list[float]] = defaultdict(list)
        for run in runs:
            m = next((m for m in run.metrics if str(m["set"]) == name), None)
            if m is None or not finite(m.get("psnr")):
                continue
            group = re.sub(r"(^|\s)\+*noise\.sigma=\S+", "", run.label).strip() or run.model
            lines[group].append((run.sigma, m["psnr"]))
            if finite(m.get("input_psnr")):
                inputs[run.sigma].append(m["input_psnr"])
        for group, points in lines.items():
            xs, ys = zip(*sorted(points), strict=True)
            ax.plot(xs, ys, "o-", label=group)
        if inputs:
            xs = sorted(inputs)
            ax.plot(xs, [np.mean(inputs[s]) for s in xs], "k--", alpha=0.5, label="noisy input")
        ax.set_xlabel("noise sigma (0-255)")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def _short_label(run: Run, limit: int = 40) -> str:
    """The run's label, or its folder name where the label is long and the name says more than
    a job number (runs given their own ``hydra.run.dir``, e.g. ``unet_gaussian25``)."""
    if run.label and (len(run.label) <= limit or run.name.isdigit()):
        return run.label
    return run.name


def psnr_vs_train_time(runs: list[Run], path: Path) -> Path | None:
    """Validation PSNR against training minutes (validation excluded), one line per successful
    run: quality for compute. None when no run logged a validation curve (e.g. evaluation runs)."""
    curves = [(_short_label(r), r.val_curve()) for r in runs if r.ok]
    curves = [(label, points) for label, points in curves if points]
    if not curves:
        return None
    fig = Figure(figsize=(7.0, 4.5))
    ax = fig.add_subplot()
    for label, points in curves:
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, "o-", ms=4, label=label)
    ax.set_xlabel("training minutes (validation excluded)")
    ax.set_ylabel("validation PSNR (dB)")
    ax.set_title("Validation PSNR against training minutes")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def dip_curves(path: Path, res: dict[str, Any], summary: dict[str, Any]) -> Path:
    """PSNR of the raw and averaged outputs (when gt is known) and ES-WMV's VAR, stop marked."""
    curves = res["curves"]
    steps = np.arange(res["steps"])
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
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
    ax.set_title(f"DIP {summary['problem']} ({summary['noise']}): {summary['image']}")
    fig.tight_layout()
    return _save(fig, path)
