"""The platform's training step against a bare PyTorch step, at the budget preset's configuration.

Goal 1 of the speed issue: a step of ``python -m restore.train experiment=unet_cpu_budget`` (U-Net
d4w32, batch 16 of 64x64 Train400 patches, bf16 autocast, channels_last, Adam, every callback,
logger and data worker of the preset) should cost no more than 1/0.95 of the bare step.

- **platform**: the preset composed and built as ``restore.train`` builds it (the same datamodule,
  task, callbacks, loggers and Trainer), run for ``warmup + steps`` steps; the default 256 timed
  steps are one epoch of the preset, so one validation pass with its checkpoint saves falls inside,
  as in the real run. Its time is the preset's own budget clock (``TimeBudget``: validation
  excluded, checkpoint saves included): what the 30-minute budget buys, loader and callbacks too.
- **bare**: a plain loop with the same network, optimizer (as configured), precision and memory
  format, on batches of the same patch sampler drawn *before* timing: uint8 -> float, Gaussian
  noise, forward, MSE, backward, Adam. Nothing else: the arithmetic any implementation must do.

The two are interleaved step by step in one process: after every platform step a callback makes
one bare step (with its own network and optimizer) and times it; the platform's step is the budget
clock's advance minus that bare step. Both sides thus meet the same machine at the same moment: on
this 2-core CPU, whose speed drifts by up to 25 % and which other jobs may share, two separate runs
differed by 4-15 % from round to round, more than the overhead being measured.

    python benchmarks/platform_step.py [--steps 256] [--warmup 20] [--rounds 1] [--override K=V]

Writes experiments/results/platform_step.json (or ``--output``) and the ``step_ratio`` of
experiments/results/speed_goals.json. Needs Train400 (``RESTORE_DATA_DIR`` or ../shared/datasets).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_goals import command_line, cpu_model, record

from restore.callbacks import TimeBudget
from restore.utils.build import build_task, build_trainer
from restore.utils.config import CONFIG_DIR, PROJECT_ROOT

RESULTS = PROJECT_ROOT / "experiments" / "results" / "platform_step.json"
SHARED = PROJECT_ROOT.parent / "shared" / "datasets"


def preset(output_dir: str, overrides: list[str]):
    """The budget preset as ``restore.train experiment=unet_cpu_budget`` composes it."""
    data_dir = os.environ.get("RESTORE_DATA_DIR", str(SHARED))
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train", ["experiment=unet_cpu_budget", f"paths.data_dir={data_dir}", *overrides]
        )
    cfg.paths.output_dir = output_dir
    return cfg


class BareStep:
    """The plain loop, one step per call, on batches of the preset's sampler drawn in advance."""

    def __init__(self, cfg, batches: int):
        datamodule = hydra.utils.instantiate(cfg.data, num_workers=0)
        datamodule.setup("fit")
        self.batches = []
        for batch in datamodule.train_dataloader():
            self.batches.append(batch.target)
            if len(self.batches) == batches:
                break
        net = hydra.utils.instantiate(cfg.model).to(memory_format=torch.channels_last)
        self.net = net.train()
        # the preset's optimizer, as configured (lr, fused, ...): the ratio measures the platform
        self.opt = hydra.utils.instantiate(cfg.optimizer)(params=self.net.parameters())
        self.sigma = cfg.noise.sigma / 255
        self.done = 0

    def __call__(self) -> float:
        """One step on the next batch; its wall seconds."""
        start = time.perf_counter()
        target = self.batches[self.done % len(self.batches)]
        clean = target.float().div_(255).contiguous(memory_format=torch.channels_last)
        noisy = clean + self.sigma * torch.randn_like(clean)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.mse_loss(self.net(noisy).float(), clean)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.done += 1
        return time.perf_counter() - start


class Interleave(L.Callback):
    """At the end of every platform step: read the budget clock, then make one bare step."""

    def __init__(self, bare: BareStep):
        self.bare = bare
        self.clock: list[float] = []  # the budget clock after each platform step
        self.bare_s: list[float] = []  # the bare step made right after it

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        budget = next(c for c in trainer.callbacks if isinstance(c, TimeBudget))
        self.clock.append(budget.seconds())
        with torch.enable_grad():
            self.bare_s.append(self.bare())


def one_round(cfg, steps: int, warmup: int) -> dict:
    """Platform and bare steps interleaved over steps ``warmup..warmup+steps``: each side's mean
    and median seconds per step, and each side's time for the first ``warmup`` steps."""
    L.seed_everything(cfg.seed, workers=True)
    bare = BareStep(cfg, warmup + steps)
    cfg.trainer.max_steps = warmup + steps
    datamodule = hydra.utils.instantiate(cfg.data)
    task = build_task(cfg)
    trainer, _, _ = build_trainer(cfg)
    pair = Interleave(bare)
    trainer.callbacks.append(pair)
    trainer.fit(task, datamodule=datamodule)
    # platform step i: the clock's advance from the end of step i-1 less the bare step in between
    clock, bare_s = pair.clock[warmup - 1 :], pair.bare_s[warmup - 1 :]
    platform = [clock[i + 1] - clock[i] - bare_s[i] for i in range(len(clock) - 1)]
    bare_timed = bare_s[1:]
    return {
        "platform_s_per_step": statistics.mean(platform),
        "bare_s_per_step": statistics.mean(bare_timed),
        "platform_median_step_s": statistics.median(platform),
        "bare_median_step_s": statistics.median(bare_timed),
        # the first ``warmup`` steps, untimed above: startup (workers, compile) shows here
        "platform_warmup_s": clock[0] - sum(pair.bare_s[: warmup - 1]),
        "bare_warmup_s": sum(pair.bare_s[:warmup]),
        "steps": len(platform),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--override", action="append", default=[], help="a preset override")
    parser.add_argument("--label", default="", help="a name for this arm in the results file")
    parser.add_argument("--no-record", action="store_true", help="leave speed_goals.json alone")
    parser.add_argument("--output", type=Path, help="the results file (default: by --label)")
    args = parser.parse_args()
    if args.warmup < 1:
        parser.error("--warmup must be >= 1 (the first step sets the clock's origin)")
    rounds = []
    with tempfile.TemporaryDirectory(prefix="platform_step_") as out:
        cfg = preset(out, args.override)
        for r in range(args.rounds):
            row = one_round(cfg.copy(), args.steps, args.warmup)
            rounds.append(row)
            print(
                f"round {r}: bare {row['bare_s_per_step']:.4f} s/step, platform "
                f"{row['platform_s_per_step']:.4f} (medians {row['bare_median_step_s']:.4f} / "
                f"{row['platform_median_step_s']:.4f})",
                flush=True,
            )
    ratios = [row["bare_s_per_step"] / row["platform_s_per_step"] for row in rounds]
    medians = [row["bare_median_step_s"] / row["platform_median_step_s"] for row in rounds]
    result = {
        "benchmark": "budget preset step: restore.train against a bare PyTorch step, interleaved",
        "label": args.label,
        "command": command_line(),
        "preset": " ".join(["experiment=unet_cpu_budget", *args.override]),
        "model": f"UNet depth {cfg.model.depth} width {cfg.model.width}",
        "batch": f"{cfg.data.batch_size} x {cfg.data.channels}x{cfg.data.patch_size}^2",
        "precision": cfg.trainer.precision,
        "num_workers": cfg.data.num_workers,
        "threads": torch.get_num_threads(),
        "steps_per_round": args.steps,
        "warmup_steps": args.warmup,
        "rounds": rounds,
        "round_ratios": [round(x, 4) for x in ratios],
        "round_median_step_ratios": [round(x, 4) for x in medians],
        "step_ratio": round(statistics.mean(ratios), 4),
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    results = args.output or (
        RESULTS.with_name(f"platform_step_{args.label}.json") if args.label else RESULTS
    )
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}, indent=2))
    if not args.no_record:
        record(
            "step_ratio",
            result["step_ratio"],
            round_ratios=result["round_ratios"],
            results=str(results.resolve().relative_to(PROJECT_ROOT)),
        )


if __name__ == "__main__":
    main()
