"""Deep Image Prior (Ulyanov, Vedaldi & Lempitsky, CVPR 2018) with ES-WMV early stopping.

Run it as ``python -m restore.dip task=denoise|sr|inpaint image=PATH ...`` (see ``run.py``).
"""

from restore.dip.downsampler import LanczosDownsampler, lanczos_kernel_1d
from restore.dip.early_stopping import ESWMV
from restore.dip.generators import ResNet, SegNet, Skip, UNet
from restore.dip.module import DIPModule, make_code

__all__ = [
    "ESWMV",
    "DIPModule",
    "LanczosDownsampler",
    "ResNet",
    "SegNet",
    "Skip",
    "UNet",
    "lanczos_kernel_1d",
    "make_code",
]
