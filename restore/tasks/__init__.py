"""Task LightningModules: one per restoration problem, sharing ``RestorationTask``'s loop."""

from restore.tasks.base import RestorationTask
from restore.tasks.denoise import DenoisingTask

__all__ = ["DenoisingTask", "RestorationTask"]
