"""Lightning callbacks of the platform (the ``callbacks`` config group)."""

from restore.callbacks.image_samples import ImageSamples
from restore.callbacks.test_report import TestReport, format_table, test_table

__all__ = ["ImageSamples", "TestReport", "format_table", "test_table"]
