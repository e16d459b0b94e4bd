"""Iterations per second of Deep Image Prior: restore.dip (LightningModule + Trainer) against a
plain-PyTorch rendering of the original denoising loop.

The plain loop is the closure of the authors' ``denoising.ipynb`` (DmitryUlyanov/deep-image-prior):
perturb the code, forward, EMA of the outputs with ``.detach()``, MSE, ``backward``, three
PSNRs from numpy copies of the outputs (``compare_psnr``, now ``skimage.metrics``), the printed
loss (``.item()``), the PSNR backtracking bookkeeping, then ``optimizer.step()``. Both sides use
the same network (the published skip net, 5 x 128 channels), the same weights and code ``z``,
the same image and the same precision (autocast around the forward); restore.dip additionally
records ES-WMV, the PSNR curves of the raw and averaged outputs and Lightning logging at every
step, with its shipped settings (``conf/model/dip.yaml``: SSIM off, ``ssim_every: 0``), and runs
channels-last where that is faster (``channels_last: auto``: 16-bit autocast or GPU) and its 1x1
convolutions without the original's ``ReflectionPad2d(0)`` copy (the plain loop keeps it:
:func:`original_net`); the same arithmetic, so the same DIP results.

    OMP_NUM_THREADS=1 python benchmarks/dip_speed.py   # -> experiments/results/dip_speed.json

It then records the bf16 ratio as the ``dip_ratio`` speed goal (``benchmarks/speed_goals.py``),
with both precisions' ratios and the F16 PSNR at the ES-WMV stop before and after the speed-ups
(experiments/dip_f16_noise/, uniform noise: ``--psnr-before`` is the figure of the code before
them, ``--psnr-after`` that of ``summary_uniform.json``).

Rounds alternate the two loops so that a shared, busy machine slows both alike; it/s is one over
the median time of an iteration (over all rounds), robust to bursts of load on a shared CPU.
Both wall-clock and process CPU time are reported: on a CPU shared with other jobs the CPU-time
ratio is the steadier measure of the work each loop does.

The bound. After the timed rounds each loop runs once more under the PyTorch profiler, which
sums the time spent in convolution operators (forward and backward; ``conv_s_per_it``). The same
network at the same precision cannot do less convolution arithmetic, and restore.dip's
convolutions already run in the faster layout, so ``plain s/it / restore.dip's convolution
s/it`` bounds the ratio any loop could reach: everything else (BatchNorm, activations, upsampling,
Adam, the loop itself) taken to zero time. It is recorded beside the ratio as ``bound``.
"""

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from skimage import data
from skimage.metrics import peak_signal_noise_ratio as compare_psnr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra.utils import instantiate  # noqa: E402

from restore.dip.method import StepTimer  # noqa: E402
from restore.utils.config import CONFIG_DIR  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from speed_goals import record  # noqa: E402

OUT = ROOT / "experiments" / "results" / "dip_speed.json"
F16_SUMMARY = ROOT / "experiments" / "dip_f16_noise" / "summary_uniform.json"
# the F16 uniform-noise PSNR at the ES-WMV stop before the speed-ups (git 263851d, 2 threads):
#   python -m restore.dip image=../shared/datasets/DeepImagePrior/denoising/F16_GT.png \
#       noise=uniform crop=128 model.max_steps=2000     -> 30.7008 dB (ES @ 767, 1800 its)
PSNR_BEFORE = 30.7008


def plain_dip(
    net, net_input, img_noisy_np, img_np, num_iter, warmup, device, precision, profiler=None
):
    """The original notebook's loop; the wall and CPU seconds of each iteration after ``warmup``
    (``profiler``: started there, stopped at the end)."""
    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    use_amp = precision in ("bf16-mixed", "16-mixed")
    reg_noise_std, exp_weight, lr, show_every = 1.0 / 30.0, 0.99, 0.01, 100
    mse = torch.nn.MSELoss()
    img_noisy_torch = torch.from_numpy(img_noisy_np)[None].to(device)
    net_input_saved = net_input.detach().clone()
    noise = net_input.detach().clone()
    st = {"i": 0, "out_avg": None, "psrn_noisy_last": 0.0, "last_net": None}
    sink = []

    def closure():
        net_input = net_input_saved
        if reg_noise_std > 0:
            net_input = net_input_saved + (noise.normal_() * reg_noise_std)
        with torch.autocast(device.type, dtype=dtype, enabled=use_amp):
            out = net(net_input)
        out = out.float()
        # Smoothing
        if st["out_avg"] is None:
            st["out_avg"] = out.detach()
        else:
            st["out_avg"] = st["out_avg"] * exp_weight + out.detach() * (1 - exp_weight)
        total_loss = mse(out, img_noisy_torch)
        total_loss.backward()
        # data_range=1: the noisy image is not clipped (published protocol), which skimage's
        # dtype-based default would reject
        psrn_noisy = compare_psnr(img_noisy_np, out.detach().cpu().numpy()[0], data_range=1)
        psrn_gt = compare_psnr(img_np, out.detach().cpu().numpy()[0], data_range=1)
        psrn_gt_sm = compare_psnr(img_np, st["out_avg"].detach().cpu().numpy()[0], data_range=1)
        # the notebook prints this line with '\r' at every iteration; kept, not shown
        sink.append(
            "Iteration %05d    Loss %f   PSNR_noisy: %f   PSRN_gt: %f PSNR_gt_sm: %f"  # noqa: UP031
            % (st["i"], total_loss.item(), psrn_noisy, psrn_gt, psrn_gt_sm)
        )
        # Backtracking
        if st["i"] % show_every:
            if psrn_noisy - st["psrn_noisy_last"] < -5:
                for new_param, net_param in zip(st["last_net"], net.parameters(), strict=True):
                    net_param.data.copy_(new_param.to(device))
                return total_loss * 0
            st["last_net"] = [x.detach().cpu() for x in net.parameters()]
            st["psrn_noisy_last"] = psrn_noisy
        st["i"] += 1
        return total_loss

    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    stamps, cpu_stamps = [], []
    for j in range(num_iter):
        if j >= warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())
            cpu_stamps.append(time.process_time())
        if j == warmup and profiler is not None:
            profiler.start()
        optimizer.zero_grad()
        closure()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    if profiler is not None:
        profiler.stop()
    stamps.append(time.perf_counter())
    cpu_stamps.append(time.process_time())
    return list(np.diff(stamps)), list(np.diff(cpu_stamps))


def original_net(net: torch.nn.Module) -> torch.nn.Module:
    """``net`` as the authors' ``models/common.py`` builds it: their ``conv`` puts a
    ``ReflectionPad2d(to_pad)`` before every convolution when ``pad='reflection'``, also
    ``ReflectionPad2d(0)`` before the 1x1 ones (a copy of the input), which restore.dip's
    generators leave out (same arithmetic). The plain loop keeps the original's."""
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1):
            m.padding_mode = "reflect"
    return net


def build_module(method, noisy, clean, device):
    """The DIP module of ``model=dip`` for the noisy image (the identity operator, L2)."""
    return method.module_for(noisy, gt=clean, device=device)


class _ProfiledTimer(StepTimer):
    """The step timer, with a profiler running over the timed steps."""

    def __init__(self, profiler, skip: int):
        super().__init__(skip=skip, per_step=True)
        self.profiler = profiler

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)
        if batch_idx == self.skip:
            self.profiler.start()

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        self.profiler.stop()


def lightning_dip(method, noisy, clean, net_state, z, warmup, device, profiler=None):
    """restore.dip through the Trainer; the wall and CPU seconds of each step after ``warmup``
    (``profiler``: running over those steps)."""
    module = build_module(method, noisy, clean, device)
    module.generator.load_state_dict(net_state)
    module.z.copy_(z)
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    timer = StepTimer(skip=warmup, per_step=True)
    if profiler is not None:
        timer = _ProfiledTimer(profiler, skip=warmup)
    timer = method.fit(module, accelerator=accelerator, timer=timer)
    return timer.step_times(), timer.step_times(cpu=True)


def conv_seconds(profiler: torch.profiler.profile, iterations: int, device: torch.device) -> float:
    """Seconds per iteration in convolution operators: the self time of every operator whose
    name holds "conv" (the oneDNN/ATen kernels forward and backward, and their thin wrappers)."""
    convs = [e for e in profiler.key_averages() if "conv" in e.key.lower()]
    if device.type == "cuda":
        return sum(e.self_device_time_total for e in convs) / 1e6 / iterations
    return sum(e.self_cpu_time_total for e in convs) / 1e6 / iterations


def other_ops(profiler: torch.profiler.profile, iterations: int, top: int = 8) -> dict[str, float]:
    """Milliseconds per iteration of the ``top`` operators with the most self CPU time outside the
    convolutions: where the rest of a step goes."""
    events = [e for e in profiler.key_averages() if "conv" not in e.key.lower()]
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return {e.key: round(e.self_cpu_time_total / 1e3 / iterations, 2) for e in events[:top]}


def profiled(run, *args) -> torch.profiler.profile:
    """``run(*args, profiler=...)`` with a profiler that it starts and stops around its timed
    steps."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    profiler = torch.profiler.profile(activities=activities)
    run(*args, profiler=profiler)
    return profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128, help="centre crop of astronaut")
    parser.add_argument("--iters", type=int, default=12, help="timed iterations per run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--precisions", nargs="+", default=["bf16-mixed", "32-true"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--psnr-before", type=float, default=PSNR_BEFORE)
    parser.add_argument("--psnr-after", type=float, default=None, help="default: F16 summary")
    parser.add_argument("--no-record", action="store_true", help="leave speed_goals.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )

    img = data.astronaut()
    top, left = (img.shape[0] - args.size) // 2 - 60, (img.shape[1] - args.size) // 2 - 40
    img = img[top : top + args.size, left : left + args.size]
    img_np = (img.astype(np.float32) / 255).transpose(2, 0, 1)
    noise = np.random.RandomState(0).standard_normal(img.shape).transpose(2, 0, 1)
    img_noisy_np = (img_np + 25 / 255 * noise).astype(np.float32)
    noisy, clean = torch.from_numpy(img_noisy_np)[None], torch.from_numpy(img_np)[None]
    total = args.warmup + args.iters
    results = []
    for precision in args.precisions:
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("dip", overrides=[
                "model/generator=skip", f"model.max_steps={total}",
                f"model.precision={precision}", "model.early_stopping.window=10",
                "model.patience=1000",
            ])  # fmt: skip
        method = instantiate(cfg.model)
        L.seed_everything(0, verbose=False)
        reference = build_module(method, noisy, clean, device)
        net_state = copy.deepcopy(reference.generator.state_dict())
        z = reference.z.clone()
        runs = {"plain": ([], []), "restore_dip": ([], [])}  # (wall, cpu) seconds per iteration
        for r in range(args.rounds):
            net = copy.deepcopy(reference.generator).to(memory_format=torch.contiguous_format)
            net = original_net(net)
            net.load_state_dict(net_state)
            net = net.to(device)
            zin = z.contiguous().to(device)
            order = ["plain", "restore_dip"] if r % 2 == 0 else ["restore_dip", "plain"]
            timed = {}  # alternating order: neither loop always runs first
            for name in order:
                if name == "plain":
                    timed[name] = plain_dip(
                        net, zin, img_noisy_np, img_np, total, args.warmup, device, precision
                    )
                else:
                    timed[name] = lightning_dip(
                        method, noisy, clean, net_state, z, args.warmup, device
                    )
            for name, (wall, cpu) in timed.items():
                runs[name][0].extend(wall)
                runs[name][1].extend(cpu)
            print(
                f"[{precision}] round {r}: plain {np.median(timed['plain'][0]):.4f} s/it, "
                f"restore.dip {np.median(timed['restore_dip'][0]):.4f} s/it (wall)",
                flush=True,
            )
        entry = {"precision": precision, "restore_dip_channels_last": method._channels_last(device)}
        for i, clock in enumerate(("wall", "cpu")):
            plain_ips = 1 / statistics.median(runs["plain"][i])
            ours_ips = 1 / statistics.median(runs["restore_dip"][i])
            entry[clock] = {
                "plain_its_per_s": round(plain_ips, 4),
                "restore_dip_its_per_s": round(ours_ips, 4),
                "ratio": round(ours_ips / plain_ips, 4),
                "ratio_of_means": round(
                    statistics.mean(runs["plain"][i]) / statistics.mean(runs["restore_dip"][i]), 4
                ),
            }
            print(
                f"[{precision}] {clock}: plain {plain_ips:.3f} it/s, restore.dip {ours_ips:.3f} "
                f"it/s, ratio {ours_ips / plain_ips:.3f}",
                flush=True,
            )
        entry["ratio"] = entry["wall"]["ratio"]
        # the bound: each loop once more, profiled over its timed iterations
        net = original_net(
            copy.deepcopy(reference.generator).to(memory_format=torch.contiguous_format)
        )
        net.load_state_dict(net_state)
        net, zin = net.to(device), z.contiguous().to(device)
        plain_prof = profiled(
            plain_dip, net, zin, img_noisy_np, img_np, total, args.warmup, device, precision
        )
        ours_prof = profiled(lightning_dip, method, noisy, clean, net_state, z, args.warmup, device)
        plain_s = statistics.median(runs["plain"][0])
        ours_s = statistics.median(runs["restore_dip"][0])
        conv = {
            "plain": conv_seconds(plain_prof, args.iters, device),
            "restore_dip": conv_seconds(ours_prof, args.iters, device),
        }
        entry["conv_s_per_it"] = {k: round(v, 4) for k, v in conv.items()}
        entry["conv_share"] = {
            "plain": round(conv["plain"] / plain_s, 3),
            "restore_dip": round(conv["restore_dip"] / ours_s, 3),
        }
        entry["bound"] = round(plain_s / conv["restore_dip"], 4)
        entry["restore_dip_other_ops_ms_per_it"] = other_ops(ours_prof, args.iters)
        print(
            f"[{precision}] convolutions: {entry['conv_share']['plain']:.0%} of the plain loop's "
            f"time, {entry['conv_share']['restore_dip']:.0%} of restore.dip's; bound on the "
            f"ratio (all else at zero time): {entry['bound']:.3f}",
            flush=True,
        )
        results.append(entry)

    report = {
        "benchmark": "DIP denoising iterations/s: restore.dip (Lightning) vs the original loop",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "device": device.type if device.type == "cpu" else torch.cuda.get_device_name(device),
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "image": f"skimage astronaut, {args.size}x{args.size} crop, sigma 25",
        "network": "DIP skip: 5 scales, 128 down/up, 4 skip, bilinear, reflection, input_depth 32",
        "warmup_iterations": args.warmup,
        "timed_iterations": args.iters,
        "rounds": args.rounds,
        "restore_dip_extras": "ES-WMV + PSNR/PSNR(EMA) every step, Lightning logging "
        "(shipped settings: SSIM off)",
        "restore_dip_speedups": "channels-last (bf16), no ReflectionPad2d(0) copy before 1x1 "
        "convs (bit-identical results)",
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    if args.no_record or device.type != "cpu":
        return
    ratios = {r["precision"]: r["ratio"] for r in results}
    bounds = {r["precision"]: r["bound"] for r in results}
    psnr_after = args.psnr_after
    if psnr_after is None and F16_SUMMARY.exists():
        psnr_after = round(json.loads(F16_SUMMARY.read_text())["psnr"], 4)
    record(
        "dip_ratio",
        ratios.get("bf16-mixed"),
        bf16=ratios.get("bf16-mixed"),
        fp32=ratios.get("32-true"),
        bound_bf16=bounds.get("bf16-mixed"),
        bound_fp32=bounds.get("32-true"),
        bound_meaning="plain s/it over restore.dip's convolution s/it: the ratio with everything "
        "but the convolutions at zero time",
        threads=torch.get_num_threads(),
        psnr_before=args.psnr_before,
        psnr_after=psnr_after,
        psnr_image="F16 128x128 crop, uniform noise, ES-WMV stop (experiments/dip_f16_noise/)",
        results=str(args.out.relative_to(ROOT)) if args.out.is_relative_to(ROOT) else str(args.out),
    )


if __name__ == "__main__":
    main()
