"""Restoration networks (the ``model`` config group). Each maps a degraded batch to a restored
one; see each module for the paper it implements."""

from restore.archs.cvt import CvT
from restore.archs.dncnn import DnCNN
from restore.archs.drunet import DRUNet
from restore.archs.edsr import EDSR
from restore.archs.ffdnet import FFDNet
from restore.archs.nafnet import NAFNet
from restore.archs.pixelcnn import PixelCNN
from restore.archs.unet import UNet
from restore.archs.vae import ConditionalVAE

__all__ = [
    "EDSR",
    "ConditionalVAE",
    "CvT",
    "DRUNet",
    "DnCNN",
    "FFDNet",
    "NAFNet",
    "PixelCNN",
    "UNet",
]
