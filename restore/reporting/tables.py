"""The comparison table: one row per run and test set (one per failed run), as CSV and Markdown."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from restore.reporting.runs import OK, Run, common_overrides
from restore.utils.tables import markdown_table as table

COLUMNS = [
    "run",
    "label",
    "model",
    "degradation",
    "sigma",
    "test_set",
    "psnr",
    "ssim",
    "input_psnr",
    "input_ssim",
    "params",
    "train_time_s",
    "train_time_source",
    "steps",
    "val_psnr_final",
    "train_min_final",
    "inference_ms",
    "inference_s_per_mp",
    "status",
    "error",
    "checkpoint",
    "overrides",
]


BEFORE_METRICS = COLUMNS[: COLUMNS.index("psnr")]
AFTER_METRICS = COLUMNS[COLUMNS.index("input_ssim") + 1 :]


def metric_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The metric columns of ``rows``: the usual four, then every other metric a task logged."""
    known = set(COLUMNS)
    extra = sorted(
        {k for r in rows for k in r.get("metrics", {}) if k not in known},
        key=lambda k: (k.startswith("input_"), k),
    )
    return ["psnr", "ssim", "input_psnr", "input_ssim", *extra]


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """The CSV's columns: run metadata, every metric, then timing and provenance."""
    return [*BEFORE_METRICS, *metric_keys(rows), *AFTER_METRICS]


def result_rows(runs: list[Run]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        # a failed or diverged run may have validated before it stopped: how far it got
        curve = run.val_curve()
        train_min, val_psnr = curve[-1] if curve else (None, None)
        base = {
            "run": run.name,
            "label": run.label,
            "model": run.model if run.config is not None else "",
            "degradation": run.degradation if run.config is not None else "",
            "sigma": run.sigma,
            "params": run.params,
            "train_time_s": run.train_time_s,
            "train_time_source": run.train_time_source,
            "steps": run.train_steps(),
            "val_psnr_final": val_psnr,
            "train_min_final": train_min,
            "inference_ms": run.inference_ms,
            "inference_s_per_mp": run.inference_s_per_mp,
            "status": run.status,
            "error": run.error or "",
            "checkpoint": str(run.checkpoint) if run.checkpoint else "",
            "overrides": " ".join(run.overrides),
        }
        if run.ok:
            for m in run.metrics:
                values = {k: _float(v) for k, v in m.items() if k != "set"}
                rows.append({**base, "test_set": m.get("set", ""), **values, "metrics": values})
        else:
            rows.append({**base, "test_set": ""})
    return rows


def _float(v: Any) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    names = columns(rows)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in names})


def _num(x: Any, fmt: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, fmt)


def _params(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    # the task's own metrics of the restored images (SR's rgb_psnr, inpainting's hole_psnr, ...)
    extra = [k for k in metric_keys(rows)[4:] if not k.startswith("input_")]
    header = [
        "run",
        "label",
        "model",
        "degradation",
        "test set",
        "PSNR",
        "SSIM",
        *extra,
        "input PSNR",
        "gain dB",
        "params",
        "train time s",
        "inference s/MP",
        "status",
    ]
    lines = []
    for r in rows:
        ok = r["status"] == OK
        psnr, inp = r.get("psnr"), r.get("input_psnr")
        gain = psnr - inp if ok and psnr is not None and inp is not None else None
        status = r["status"] if ok else f"{r['status']}: {r['error']}"
        cells = [
            r["run"],
            f"`{r['label']}`" if r["label"] else "",
            r["model"],
            r["degradation"],
            r.get("test_set") or "-",
            _num(psnr, ".2f") if ok else r["status"],
            _num(r.get("ssim"), ".4f"),
            *(_num(r.get(k), ".4f" if "ssim" in k else ".2f") for k in extra),
            _num(inp, ".2f"),
            _num(gain, "+.2f"),
            _params(r.get("params")),
            _num(r.get("train_time_s"), ".1f") if ok else "-",
            _num(r.get("inference_s_per_mp"), ".2f"),
            status,
        ]
        lines.append([str(c) for c in cells])
    return table(header, lines)


def markdown_report(
    runs: list[Run],
    rows: list[dict[str, Any]],
    sources: list[Path],
    notes: list[str],
    figures: dict[str, str],
    grid: str | None,
    optuna: list[tuple[Path, dict]],
) -> str:
    counts = {s: sum(r.status == s for r in runs) for s in dict.fromkeys(r.status for r in runs)}
    out = [
        "# Run comparison",
        "",
        "From: " + ", ".join(f"`{p}`" for p in sources),
        "",
        f"{len(runs)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + ".",
    ]
    common = common_overrides(runs) if len(runs) > 1 else []
    if common:
        out += ["", "Overrides common to all runs: `" + " ".join(common) + "`"]
    out += ["", markdown_table(rows), ""]
    out += [f"- {n}" for n in notes]
    failed = [r for r in runs if not r.ok]
    if failed:
        out += ["", "## Failed runs", ""]
        out += [f"- **{r.name}** (`{r.label}`): {r.error}" for r in failed]
    for path, result in optuna:
        out += ["", f"## Optuna: best of `{path}`", ""]
        if "best_value" in result:
            out.append(f"best value: {result['best_value']:.4f}")
            out += [f"- `{k}={v}`" for k, v in (result.get("best_params") or {}).items()]
        else:
            out.append(f"Pareto front: {result.get('solutions')}")
    if figures:
        out += ["", "## Plots", ""]
        out += [f"![{title}]({name})" for title, name in figures.items()]
    if grid:
        out += ["", "## The same test crop, restored by every model", "", grid]
    return "\n".join(out) + "\n"
