"""Deep Image Prior (Ulyanov, Vedaldi & Lempitsky, CVPR 2018) with ES-WMV early stopping.

Run it as ``python -m restore.dip image=PATH noise=...`` (see ``run.py``), or as the ``model=dip``
method of ``restore.eval`` (see ``method.py``).
"""

from restore.dip.downsampler import LanczosDownsampler, lanczos_kernel_1d
from restore.dip.early_stopping import ESWMV
from restore.dip.generators import DIPUNet, ResNet, SegNet, Skip
from restore.dip.method import DeepImagePrior
from restore.dip.module import DIPModule, make_code

__all__ = [
    "ESWMV",
    "DIPModule",
    "DIPUNet",
    "DeepImagePrior",
    "LanczosDownsampler",
    "ResNet",
    "SegNet",
    "Skip",
    "lanczos_kernel_1d",
    "make_code",
]
