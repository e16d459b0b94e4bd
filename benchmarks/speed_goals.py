"""The figures of the speed goals (issue #15) in one file: experiments/results/speed_goals.json.

Each benchmark that measures a goal calls :func:`record` with the figure and the command that
measured it; the other keys are kept, and a goal nobody measured stays null. Written beside its
name and renamed into place, so a benchmark killed mid-write leaves the file whole.

    python benchmarks/speed_goals.py        # print the file
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results" / "speed_goals.json"

# goal key -> what the figure is (the goals of issue #15)
GOALS = {
    "step_ratio": "bare step time / platform step time, budget preset (U-Net, b16 p64, bf16, "
    "channels_last), both in one process on the same data (>= 0.95)",
    "budget_set12": "Set12 PSNR of the 30-minute CPU denoiser, single pass (>= 30.44)",
    "budget_bsd68": "BSD68 PSNR of the 30-minute CPU denoiser, single pass (stretch >= 29.23)",
    "dip_ratio": "restore.dip iterations/s / the original DIP loop's, same precision (>= 1.5)",
    "tiled_ratio": "tiled / untiled predict throughput (>= 0.9)",
    "gpu_minutes_to_29_23": "minutes of training to BSD68 29.23 on one GPU (<= 8)",
}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def command_line() -> str:
    """How this process was started, relative to the project (for the ``command`` field)."""
    argv = list(sys.argv)
    root = RESULTS.parents[2]
    with contextlib.suppress(ValueError):  # a script outside the project keeps its path
        argv[0] = str(Path(argv[0]).resolve().relative_to(root))
    return "python " + shlex.join(argv)


def load() -> dict[str, Any]:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for key in GOALS:
        data.setdefault(key, None)
    data.setdefault("details", {})
    return data


def record(key: str, value: float | None, command: str | None = None, **details: Any) -> None:
    """Set goal ``key`` to ``value``, with the command that measured it and any ``details``."""
    if key not in GOALS:
        raise KeyError(f"unknown speed goal {key!r}; the goals are {sorted(GOALS)}")
    data = load()
    data[key] = value
    data["details"][key] = {
        "goal": GOALS[key],
        "value": value,
        "command": command or command_line(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu": cpu_model(),
        **details,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_name(f".{RESULTS.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, RESULTS)


if __name__ == "__main__":
    print(json.dumps(load(), indent=2))
