"""Training steps per second: restore.train's DnCNN step against a plain PyTorch loop.

Both sides use the same network (built from conf/model/dncnn.yaml), the same data pipeline
(the embedded photos' PatchDataset through a DataLoader), the same batch, precision (bf16 autocast),
memory format (channels_last), optimizer and thread count. The platform side runs the Lightning
Trainer with the task module, as `python -m restore.train` does (logging on, checkpointing and
validation off so that both sides time training steps only). Rounds alternate between the two to
cancel drifts in machine load; the best round of each is kept.

    python benchmarks/train_step.py [--steps 30] [--rounds 3]

Writes experiments/results/train_step.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import hydra
import lightning as L
import torch
from hydra import compose, initialize_config_dir

from restore.degradations import TorchNoise
from restore.utils.build import build_task
from restore.utils.config import CONFIG_DIR, PROJECT_ROOT

RESULTS = PROJECT_ROOT / "experiments" / "results" / "train_step.json"


def config(batch_size: int, patch: int):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            [
                f"data.batch_size={batch_size}",
                f"data.patch_size={patch}",
                "trainer.accelerator=cpu",
                "logger=csv",
            ],
        )
    cfg.paths.output_dir = str(PROJECT_ROOT / "outputs" / "bench" / "train_step")
    return cfg


class StepTimer(L.Callback):
    def __init__(self, warmup: int):
        self.warmup = warmup
        self.start = self.end = 0.0
        self.steps = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx >= self.warmup:
            self.end = time.perf_counter()
            self.steps = batch_idx - self.warmup + 1


def platform_round(cfg, steps: int, warmup: int) -> float:
    L.seed_everything(0)
    datamodule = hydra.utils.instantiate(
        cfg.data, patches_per_epoch=(steps + warmup) * cfg.data.batch_size
    )
    task = build_task(cfg)
    timer = StepTimer(warmup)
    loggers = [hydra.utils.instantiate(c) for c in cfg.logger.values()]
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        precision=cfg.trainer.precision,
        max_epochs=1,
        logger=loggers,
        callbacks=[timer],
        enable_checkpointing=False,
        limit_val_batches=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=cfg.trainer.log_every_n_steps,
    )
    trainer.fit(task, datamodule=datamodule)
    return timer.steps / (timer.end - timer.start)


def plain_round(cfg, steps: int, warmup: int) -> float:
    L.seed_everything(0)
    datamodule = hydra.utils.instantiate(
        cfg.data, patches_per_epoch=(steps + warmup) * cfg.data.batch_size
    )
    datamodule.setup("fit")
    net = hydra.utils.instantiate(cfg.model).to(memory_format=torch.channels_last).train()
    noise = hydra.utils.instantiate(cfg.noise)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.optimizer.lr)
    start = 0.0
    for i, batch in enumerate(datamodule.train_dataloader()):
        if i == warmup:
            start = time.perf_counter()
        clean = batch.target.float().div_(255).contiguous(memory_format=torch.channels_last)
        noisy = noise(clean, TorchNoise())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.mse_loss(net(noisy), clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patch", type=int, default=48)
    args = parser.parse_args()
    cfg = config(args.batch_size, args.patch)
    plain, ours = [], []
    for r in range(args.rounds):
        plain.append(plain_round(cfg, args.steps, args.warmup))
        ours.append(platform_round(cfg, args.steps, args.warmup))
        print(f"round {r}: plain {plain[-1]:.3f} steps/s, restore.train {ours[-1]:.3f} steps/s")
    result = {
        "benchmark": "DnCNN training step: restore.train vs plain PyTorch",
        "model": "DnCNN 17x64 BN (conf/model/dncnn.yaml)",
        "batch": f"{args.batch_size} x {cfg.data.channels}x{args.patch}x{args.patch}",
        "precision": cfg.trainer.precision,
        "channels_last": True,
        "threads": torch.get_num_threads(),
        "steps_per_round": args.steps,
        "plain_steps_per_s": plain,
        "restore_steps_per_s": ours,
        "ratio_best": max(ours) / max(plain),
        "platform_overhead_percent": 100 * (1 - max(ours) / max(plain)),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
