"""Lightning callbacks of the platform (the ``callbacks`` config group)."""

from restore.callbacks.ema import EMAWeights
from restore.callbacks.faults import Divergence, Preemption
from restore.callbacks.image_samples import ImageSamples
from restore.callbacks.patch_schedule import PatchSchedule
from restore.callbacks.test_report import TestReport, format_table, test_table
from restore.callbacks.time_budget import TimeBudget
from restore.callbacks.train_clock import TrainClock

__all__ = [
    "Divergence",
    "EMAWeights",
    "ImageSamples",
    "PatchSchedule",
    "Preemption",
    "TestReport",
    "TimeBudget",
    "TrainClock",
    "format_table",
    "test_table",
]
