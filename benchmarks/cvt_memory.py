"""Peak CPU memory and time of one eval forward of the CvT restoration network.

Measures ``restore.archs.cvt.CvT`` (conf/model/cvt.yaml widths, 3 channels, batch 1) on square
images of side 128, 256, 512, 1024 with

* ``windowed``: attention in 16x16-token windows (the default);
* ``global``: global attention through ``F.scaled_dot_product_attention``'s default CPU kernel,
  a fused flash-attention kernel that never stores the attention matrix (memory O(pixels),
  time O(pixels**2));
* ``global_math``: global attention with the explicit attention matrix (the "math" SDPA backend,
  what an unfused implementation, or a device without a fused kernel, costs: memory
  O(pixels**2)). Its stage-1 scores and softmax need ``2 * side**4`` bytes (B=1, 1 head, K/V
  stride 2), i.e. 512 MiB at 128, 8 GiB at 256, 128 GiB at 512.

Each (variant, side) runs in a fresh subprocess; peak memory is ``resource.getrusage`` max RSS
(no tracemalloc), ``forward_mib`` is that peak minus the RSS just before the forward (after a
32x32 warm-up forward). Runs predicted to exceed the time or memory budget are not run; their
numbers are estimated and marked ``"status": "estimated"``: memory by a linear fit in pixels of
the measured runs (plus the analytic ``2 * side**4`` bytes for ``global_math``), time by a fit
``a * pixels + b * pixels**2``.

Results (2-core shared CPU, 1 thread, torch 2.14; experiments/results/cvt_memory.json)::

    RESULTS_TABLE

Largest square image on 24 GiB (eval forward, batch 1, from the fits; training needs several
times more for the stored activations):

    LARGEST_24GIB

Run: ``.venv/bin/python benchmarks/cvt_memory.py`` (about 10 minutes).
"""

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "experiments" / "results" / "cvt_memory.json"
MODEL = {"dims": [32, 64, 128], "depths": [1, 2, 2], "heads": [1, 2, 4], "kv_stride": 2}
VARIANTS = {"windowed": 16, "global": None, "global_math": None}
GIB = 2**30
MIB = 2**20


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def attention_matrix_bytes(side: int) -> float:
    """Largest explicit attention temporaries of a global forward: scores + softmax of stage 1."""
    n_q = side * side
    n_k = math.ceil(side / MODEL["kv_stride"]) ** 2
    return 2 * MODEL["heads"][0] * n_q * n_k * 4


def worker(side: int, variant: str, threads: int) -> dict:
    """One eval forward in this (fresh) process; returns its memory and time."""
    sys.path.insert(0, str(REPO))
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from restore.archs.cvt import CvT

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = CvT(3, 3, window_size=VARIANTS[variant], **MODEL).eval()
    backend = sdpa_kernel(SDPBackend.MATH) if variant == "global_math" else nullcontext()
    with torch.inference_mode(), backend:
        model(torch.rand(1, 3, 32, 32))  # warm-up: one-time allocations and kernel setup
        x = torch.rand(1, 3, side, side)
        baseline = _current_rss_mib()
        start = time.perf_counter()
        y = model(x)
        seconds = time.perf_counter() - start
    assert y.shape == x.shape
    peak = _max_rss_mib()
    return {
        "peak_rss_mib": round(peak, 1),
        "baseline_rss_mib": round(baseline, 1),
        "forward_mib": round(peak - baseline, 1),
        "seconds": round(seconds, 3),
    }


def _fit_linear(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b * x`` (a = y, b = 0 for a single point)."""
    if len(xs) == 1:
        return ys[0], 0.0
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    b /= sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def _fit_time(pixels: list[float], secs: list[float], quadratic: bool) -> tuple[float, float]:
    """``t = a * N + b * N**2`` through the two largest measured runs (b = 0 if not quadratic)."""
    if not quadratic or len(pixels) == 1:
        return secs[-1] / pixels[-1], 0.0
    (n1, t1), (n2, t2) = zip(pixels[-2:], secs[-2:], strict=True)
    b = max((t2 / n2 - t1 / n1) / (n2 - n1), 0.0)
    return max(t2 / n2 - b * n2, 0.0), b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=420, help="per-run time budget")
    parser.add_argument("--max-gib", type=float, default=10, help="per-run memory budget")
    parser.add_argument("--budget-gib", type=float, default=24, help="for the largest image")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--worker", nargs=2, metavar=("SIDE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(int(args.worker[0]), args.worker[1], args.threads)))
        return

    runs, largest = [], {}
    for variant in args.variants:
        measured: list[dict] = []
        for side in sorted(args.sizes):
            n = side * side
            run = {"variant": variant, "side": side, "pixels": n}
            extra_mib = attention_matrix_bytes(side) / MIB if variant == "global_math" else 0.0
            pred_s = pred_mib = 0.0
            if measured:
                a, b = _fit_time(
                    [r["pixels"] for r in measured],
                    [r["seconds"] for r in measured],
                    variant != "windowed",
                )
                pred_s = a * n + b * n * n
                last = measured[-1]
                last_extra = attention_matrix_bytes(last["side"]) / MIB if extra_mib else 0.0
                linear = (last["forward_mib"] - last_extra) * n / last["pixels"]
                pred_mib = last["baseline_rss_mib"] + linear
            pred_mib += extra_mib
            if pred_s > args.max_seconds or pred_mib > args.max_gib * 1024:
                run["status"] = "estimated"
            else:
                cmd = [sys.executable, __file__, "--worker", str(side), variant]
                cmd += ["--threads", str(args.threads)]
                env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
                try:
                    proc = subprocess.run(
                        cmd, capture_output=True, text=True, timeout=2 * args.max_seconds, env=env
                    )
                    if proc.returncode == 0:
                        run.update(json.loads(proc.stdout.strip().splitlines()[-1]))
                        run["status"] = "measured"
                        measured.append(run)
                    else:
                        run["status"] = "failed"
                        run["error"] = proc.stderr.strip().splitlines()[-1][:300]
                except subprocess.TimeoutExpired:
                    run["status"] = "failed"
                    run["error"] = f"timed out after {2 * args.max_seconds:.0f} s"
            print(json.dumps(run), flush=True)
            runs.append(run)
        if not measured:
            continue
        # Fits: memory linear in pixels (the attention matrix analytic for global_math), time
        # a * N (+ b * N**2 for global attention).
        px = [r["pixels"] for r in measured]
        lin = [
            r["peak_rss_mib"]
            - (attention_matrix_bytes(r["side"]) / MIB if variant == "global_math" else 0)
            for r in measured
        ]
        mem_a, mem_b = _fit_linear(px, lin)
        t_a, t_b = _fit_time(px, [r["seconds"] for r in measured], variant != "windowed")
        for run in runs:
            if run["variant"] == variant and run["status"] != "measured":
                n, side = run["pixels"], run["side"]
                extra = attention_matrix_bytes(side) / MIB if variant == "global_math" else 0
                run["peak_rss_mib"] = round(mem_a + mem_b * n + extra, 1)
                run["seconds"] = round(t_a * n + t_b * n * n, 1)

        def peak_gib(side: int, a: float = mem_a, b: float = mem_b, v: str = variant) -> float:
            extra = attention_matrix_bytes(side) if v == "global_math" else 0
            return ((a + b * side * side) * MIB + extra) / GIB

        side = 1
        while peak_gib(side + 1) <= args.budget_gib:
            side += 1
        largest[variant] = {
            "side": side,
            "pixels": side * side,
            "peak_rss_gib": round(peak_gib(side), 2),
            "forward_seconds": round(t_a * side**2 + t_b * side**4, 1),
            "memory_fit_mib": {"intercept": round(mem_a, 1), "per_megapixel": round(mem_b * 1e6)},
        }
        print(variant, "largest side on", args.budget_gib, "GiB:", largest[variant], flush=True)

    import torch

    result = {
        "description": "CvT eval forward, batch 1, 3 channels, peak max-RSS per fresh process",
        "model": {**MODEL, "window_size": VARIANTS["windowed"], "mlp_ratio": 2},
        "torch": torch.__version__,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "budget_gib": args.budget_gib,
        "runs": runs,
        "largest_square_side_on_budget": largest,
        "notes": (
            "status 'estimated' = not run (predicted over the per-run time or memory budget), "
            "'failed' = crashed or timed out; their peak_rss_mib and seconds come from the fits "
            "described in benchmarks/cvt_memory.py."
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
