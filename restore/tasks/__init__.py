"""Task LightningModules: one per restoration problem, sharing ``RestorationTask``'s loop."""

from restore.tasks.base import RestorationTask
from restore.tasks.denoise import DenoisingTask

__all__ = ["DenoisingTask", "RestorationTask"]

# Tasks beyond denoising: super-resolution, deblurring, inpainting.
from restore.tasks.deblur import DeblurTask
from restore.tasks.inpaint import InpaintTask
from restore.tasks.sr import SRTask

__all__ += ["DeblurTask", "InpaintTask", "SRTask"]
