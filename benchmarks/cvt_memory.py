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
numbers are estimated and marked ``"status": "estimated"``: peak memory by a least-squares line
in pixels through the measured runs (for ``global_math``, a line in the analytic attention-matrix
bytes: measured 1.13x of them plus 0.55 GiB), time by ``a * pixels`` for windowed and
``a * pixels + b * pixels**2`` (through the two largest runs) for global attention.

Results (2-core shared CPU, 1 thread, torch 2.14; experiments/results/cvt_memory.json)::

    variant       side status     peak MiB  fwd MiB         s
    windowed       128 measured        571       35       0.2
    windowed       256 measured        677      141       1.1
    windowed       512 measured       1062      523       4.8
    windowed      1024 measured       2160     1612      29.7
    global         128 measured        566       32       0.9
    global         256 measured        657      123       9.0
    global         512 measured        946      409     140.1
    global        1024 estimated      2149        -    2225.5
    global_math    128 measured       1144      609       3.3
    global_math    256 measured       9856     9321     108.0
    global_math    512 estimated    149258        -    2023.3
    global_math   1024 estimated   2379683        -   32372.7

(peak MiB includes ~535 MiB of Python + torch + model before the forward; fwd MiB = peak minus
that. Times are of a CPU shared with other jobs and only indicative.)

Largest square image on 24 GiB (eval forward, batch 1, from the fits; training needs several
times more for the stored activations):

    * windowed (16x16 tokens): memory ~0.59 GiB + 1.5 GiB per megapixel -> ~3981 x 3981
      (15.8 MP); the forward takes ~7.5 min on one thread (1024 x 1024: 30 s).
    * global, fused SDPA kernel: memory as windowed (~3967 x 3967), but time grows with
      pixels**2: 512 x 512 took 140 s, 1024 x 1024 is estimated at ~37 min, 3967 x 3967 at days;
      in practice limited by time (~413 x 413 within 60 s), not memory.
    * global with an explicit attention matrix (global_math): ~324 x 324. A 481 x 321 test image
      already needs ~51 GiB, 512 x 512 ~146 GiB (estimated, not run).
    Windowed attention is therefore what makes full-size test images practical.

Run: ``.venv/bin/python benchmarks/cvt_memory.py`` (about 6 minutes); ``--reuse old.json`` takes
the measured runs of an earlier result and only refits.
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


def _mem_regressor(variant: str, side: int) -> float:
    """What peak memory is linear in: pixels, or the attention matrix (MiB) for global_math."""
    return attention_matrix_bytes(side) / MIB if variant == "global_math" else side * side


def _fit_linear(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b * x`` (through the origin for a single point)."""
    if len(xs) == 1:
        return 0.0, ys[0] / xs[0]
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


class _Fit:
    """Peak memory (MiB) and forward time (s) of one variant, fitted on its measured runs."""

    def __init__(self, variant: str, measured: list[dict]):
        self.variant = variant
        xs = [_mem_regressor(variant, r["side"]) for r in measured]
        self.mem_a, self.mem_b = _fit_linear(xs, [r["peak_rss_mib"] for r in measured])
        px = [r["pixels"] for r in measured]
        secs = [r["seconds"] for r in measured]
        self.t_a, self.t_b = _fit_time(px, secs, variant != "windowed")

    def peak_mib(self, side: int) -> float:
        return self.mem_a + self.mem_b * _mem_regressor(self.variant, side)

    def seconds(self, side: int) -> float:
        n = side * side
        return self.t_a * n + self.t_b * n * n

    def largest_side(self, ok) -> int:
        side = 1
        while ok(side + 1):
            side += 1
        return side


def _run_worker(side: int, variant: str, threads: int, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", str(side), variant, "--threads", str(threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"status": "failed", "error": proc.stderr.strip().splitlines()[-1][:300]}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "status": "measured"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=420, help="per-run time budget")
    parser.add_argument("--max-gib", type=float, default=10, help="per-run memory budget")
    parser.add_argument("--budget-gib", type=float, default=24, help="for the largest image")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--reuse",
        type=Path,
        help="take the measured runs of this earlier JSON instead of rerunning",
    )
    parser.add_argument("--worker", nargs=2, metavar=("SIDE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(int(args.worker[0]), args.worker[1], args.threads)))
        return

    previous = {}
    if args.reuse:
        for r in json.loads(args.reuse.read_text())["runs"]:
            if r["status"] == "measured":
                previous[r["variant"], r["side"]] = r
    runs, largest = [], {}
    for variant in args.variants:
        measured: list[dict] = []
        for side in sorted(args.sizes):
            run = {"variant": variant, "side": side, "pixels": side * side}
            if (variant, side) in previous:
                run = previous[variant, side]
            elif measured and (
                _Fit(variant, measured).seconds(side) > args.max_seconds
                or _Fit(variant, measured).peak_mib(side) > args.max_gib * 1024
            ):
                run["status"] = "estimated"
            else:
                run.update(_run_worker(side, variant, args.threads, 2 * args.max_seconds))
            if run["status"] == "measured":
                measured.append(run)
            print(json.dumps(run), flush=True)
            runs.append(run)
        if not measured:
            continue
        fit = _Fit(variant, measured)
        for run in runs:
            if run["variant"] == variant and run["status"] != "measured":
                run["peak_rss_mib"] = round(fit.peak_mib(run["side"]), 1)
                run["seconds"] = round(fit.seconds(run["side"]), 1)
        side = fit.largest_side(lambda s, f=fit: f.peak_mib(s) <= args.budget_gib * 1024)
        side_60s = fit.largest_side(lambda s, f=fit: f.seconds(s) <= 60)
        largest[variant] = {
            "side": side,
            "peak_rss_gib": round(fit.peak_mib(side) / 1024, 2),
            "forward_seconds": round(fit.seconds(side), 1),
            "side_within_60s": side_60s,
            "memory_fit_mib": {
                "intercept": round(fit.mem_a, 1),
                "slope": round(fit.mem_b, 6),
                "per": "MiB of attention matrix" if variant == "global_math" else "pixel",
            },
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
            "described in benchmarks/cvt_memory.py. side_within_60s: largest square side whose "
            "forward is predicted to take at most 60 s on this CPU."
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'variant':<12} {'side':>5} {'status':<9} {'peak MiB':>9} {'fwd MiB':>8} {'s':>9}")
    for r in runs:
        fwd = f"{r['forward_mib']:8.0f}" if "forward_mib" in r else f"{'-':>8}"
        print(
            f"{r['variant']:<12} {r['side']:>5} {r['status']:<9} {r['peak_rss_mib']:9.0f} "
            f"{fwd} {r['seconds']:9.1f}"
        )
    print("wrote", args.out)


if __name__ == "__main__":
    main()
