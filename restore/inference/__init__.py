"""Using trained models: rebuild them from checkpoints, list and convert photos, restore in tiles
(optionally with the x8 geometric self-ensemble). Reading and writing files: ``restore.imaging``."""

from restore.inference.image_io import match_channels
from restore.inference.loading import load_task, model_channels
from restore.inference.tiling import tiled_apply
from restore.tasks.ensemble import self_ensemble

__all__ = [
    "load_task",
    "match_channels",
    "model_channels",
    "self_ensemble",
    "tiled_apply",
]
