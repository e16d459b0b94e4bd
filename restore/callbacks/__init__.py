"""Lightning callbacks of the platform (the ``callbacks`` config group)."""

from restore.callbacks.image_samples import ImageSamples
from restore.callbacks.test_report import TestReport, format_table, test_table
from restore.callbacks.time_budget import TimeBudget
from restore.callbacks.train_clock import TrainClock

__all__ = ["ImageSamples", "TestReport", "TimeBudget", "TrainClock", "format_table", "test_table"]
