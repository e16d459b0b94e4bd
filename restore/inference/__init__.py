"""Using trained models: rebuild them from checkpoints, read and write photos, restore in tiles
(optionally with the x8 geometric self-ensemble)."""

from restore.inference.image_io import LoadedImage, match_channels, read_image, write_image
from restore.inference.loading import load_task, model_channels
from restore.inference.tiling import tiled_apply
from restore.tasks.ensemble import self_ensemble

__all__ = [
    "LoadedImage",
    "load_task",
    "match_channels",
    "model_channels",
    "read_image",
    "self_ensemble",
    "tiled_apply",
    "write_image",
]
