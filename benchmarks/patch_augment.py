"""The training patch sampler: albumentations (RandomCrop + D4) against plain NumPy slices.

restore.data.PatchDataset draws a random crop and one of the 8 dihedral transforms per patch.
It did so through albumentations (``A.Compose([A.RandomCrop, A.D4], additional_targets=...)``);
it now slices the NumPy array and applies ``np.rot90``/a flip (restore.data.datasets.dihedral).
Both sides here sample the same examples (the embedded photos, or synthetic pairs) with the same
torch draws for the image choice; only the crop + transform differ. Timed: patches per second
through ``__getitem__`` and batches per second through a DataLoader (num_workers=0, as the
default data config), gray and colour, with and without an input image (pairs). Rounds
alternate between the two sides to cancel drifts in machine load; the best round is kept.

    python benchmarks/patch_augment.py [--patches 3000] [--rounds 5]

Writes experiments/results/patch_augment.json. Needs the ``albumentations`` extra
(``pip install -e '.[albumentations]'``, part of ``.[dev]``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import albumentations as A
import numpy as np
import torch
from torch.utils.data import DataLoader

from restore.data.datasets import PatchDataset
from restore.data.example import Example
from restore.data.store import ImageStore
from restore.imaging import to_chw
from restore.utils.config import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "experiments" / "results" / "patch_augment.json"


class AlbumentationsPatchDataset(PatchDataset):
    """The sampler as it was (scale 1): albumentations' RandomCrop + D4 on target and input."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ops: list = [A.RandomCrop(self.patch_size, self.patch_size)]
        if self.augment:
            ops.append(A.D4())
        self.transform = A.Compose(ops, additional_targets={"input": "image"})
        self._seeded_for: int | None = None

    def __getitem__(self, index: int) -> dict:
        seed = torch.initial_seed()
        if seed != self._seeded_for:
            self.transform.set_random_seed(seed % 2**32)
            self._seeded_for = seed
        u = torch.rand(()).item()
        k = min(int(np.searchsorted(self.cumulative, u)), len(self.examples) - 1)
        ex = self.examples[k]
        target = self.store(ex.target)
        inp = self.store(ex.input) if ex.input is not None else None
        data = {"image": target} if inp is None else {"image": target, "input": inp}
        out = self.transform(**data)
        item = {"target": to_chw(out["image"])}
        if inp is not None:
            item["input"] = to_chw(out["input"])
        return item


def examples(channels: int, pairs: bool) -> list[Example]:
    """The embedded photos' sizes (scikit-image, 512x512 and similar) as synthetic arrays."""
    rng = np.random.default_rng(0)
    out = []
    for i, (h, w) in enumerate([(512, 512), (300, 451), (512, 512), (400, 600)]):
        target = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
        inp = (255 - target) if pairs else None
        out.append(Example(f"img{i}", target, inp))
    return out


def time_items(ds: PatchDataset, n: int) -> float:
    torch.manual_seed(0)
    start = time.perf_counter()
    for i in range(n):
        ds[i]
    return n / (time.perf_counter() - start)


def time_loader(ds: PatchDataset, batch_size: int) -> float:
    torch.manual_seed(0)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=0)
    start = time.perf_counter()
    batches = sum(1 for _ in loader)
    return batches / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patches", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--patch-size", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = []
    for channels, pairs in [(1, False), (3, False), (3, True)]:
        exs = examples(channels, pairs)
        store = ImageStore(channels, "memory")
        sides = {
            "albumentations": AlbumentationsPatchDataset(exs, store, args.patch_size, args.patches),
            "numpy": PatchDataset(exs, store, args.patch_size, args.patches),
        }
        best: dict[str, dict[str, float]] = {s: {"items": 0.0, "batches": 0.0} for s in sides}
        for _ in range(args.rounds):
            for side, ds in sides.items():
                best[side]["items"] = max(best[side]["items"], time_items(ds, args.patches))
                b = time_loader(ds, args.batch_size)
                best[side]["batches"] = max(best[side]["batches"], b)
        case = {
            "channels": channels,
            "pairs": pairs,
            "patches_per_s": {s: round(v["items"], 1) for s, v in best.items()},
            "batches_per_s": {s: round(v["batches"], 2) for s, v in best.items()},
            "speedup_numpy_over_albumentations": round(
                best["numpy"]["items"] / best["albumentations"]["items"], 2
            ),
        }
        cases.append(case)
        print(json.dumps(case))
    result = {
        "benchmark": "PatchDataset.__getitem__: random crop + 8 dihedral transforms",
        "patch_size": args.patch_size,
        "batch_size": args.batch_size,
        "patches_per_round": args.patches,
        "rounds_best_of": args.rounds,
        "albumentations": A.__version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
        "python": platform.python_version(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "cases": cases,
        # the sampler restore uses: the faster side in every case
        "kept": "numpy"
        if all(c["speedup_numpy_over_albumentations"] > 1 for c in cases)
        else "albumentations",
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(PROJECT_ROOT)}")


if __name__ == "__main__":
    main()
