"""The test results: a printed table, ``test_metrics.csv`` and ``test_per_image.csv``."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from restore.utils.tables import text_table


def test_table(metrics: dict[str, float]) -> list[dict[str, float | str]]:
    """Rows per test set from logged ``test/<set>/<metric>`` values."""
    rows: dict[str, dict[str, float | str]] = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) != 3 or parts[0] != "test":
            continue
        rows.setdefault(parts[1], {"set": parts[1]})[parts[2]] = float(value)
    return list(rows.values())


LEADING = ("set", "psnr", "ssim", "input_psnr", "input_ssim")


def metric_columns(rows: list[dict[str, float | str]]) -> list[str]:
    """Every key the rows hold: the usual five first, then the task's own metrics (e.g. SR's
    ``rgb_psnr``, inpainting's ``hole_psnr``), the restored image's before the input's."""
    keys = {k for r in rows for k in r}
    rest = sorted(keys - set(LEADING), key=lambda k: (k.startswith("input_"), k))
    return [k for k in LEADING if k in keys or k == "set"] + rest


def format_table(rows: list[dict[str, float | str]]) -> str:
    """A plain-text table: set | PSNR | SSIM | the task's own metrics | input PSNR | input SSIM |
    gain (PSNR - input PSNR)."""
    extra = [k for k in metric_columns(rows)[5:] if not k.startswith("input_")]
    nan = float("nan")
    header = ["test set", "PSNR", "SSIM", *extra, "input PSNR", "input SSIM", "gain dB"]
    specs = ["<14", ">9.2f", ">9.4f"]
    specs += [">11.4f" if "ssim" in k else ">11.2f" for k in extra]
    specs += [">12.2f", ">12.4f", ">9.2f"]
    lines = []
    for r in rows:
        psnr, in_psnr = r.get("psnr", nan), r.get("input_psnr", nan)
        metrics = [r.get(k, nan) for k in ("ssim", *extra)]
        lines.append([r["set"], psnr, *metrics, in_psnr, r.get("input_ssim", nan), psnr - in_psnr])
    return text_table(header, lines, specs)


class TestReport(L.Callback):
    """After testing, print the per-set table and write it, with per-image PSNRs, as CSV.

    This table replaces Lightning's own "Test metric | DataLoader 0" table (one table per test):
    Lightning prints its table after the ``on_test_end`` hooks, when its test loop's ``verbose``
    is set, so the hook clears it once ours is printed. A test that logs no ``test/<set>/<metric>``
    keeps Lightning's table.
    """

    def __init__(self, output_dir: str):
        self.output_dir = Path(output_dir)

    @rank_zero_only
    def on_test_end(self, trainer, pl_module) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        rows = test_table(metrics)
        if not rows:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        print("\n" + format_table(rows) + "\n")
        trainer.test_loop.verbose = False  # `trainer.test(verbose=...)` sets it again per call
        columns = metric_columns(rows)
        with open(self.output_dir / "test_metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
        records = getattr(pl_module, "test_records", [])
        if records:
            with open(self.output_dir / "test_per_image.csv", "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(records[0]))
                writer.writeheader()
                writer.writerows(records)
            for logger in trainer.loggers:
                if hasattr(logger, "log_table"):  # W&B: a per-image results table
                    columns = list(records[0])
                    logger.log_table(
                        "test/per_image", columns, [[r[c] for c in columns] for r in records]
                    )
