"""Loss terms and their weighted sums (the ``loss`` config group)."""

from restore.losses.base import L1Loss, LossSum, MSELoss, default_loss
from restore.losses.nll import CategoricalNLL
from restore.losses.perceptual import PerceptualLoss
from restore.losses.pixel import CharbonnierLoss, KLDivergenceLoss, TotalVariationLoss
from restore.losses.structural import SobelEdgeLoss, SSIMLoss

__all__ = [
    "CategoricalNLL",
    "CharbonnierLoss",
    "KLDivergenceLoss",
    "L1Loss",
    "LossSum",
    "MSELoss",
    "PerceptualLoss",
    "SSIMLoss",
    "SobelEdgeLoss",
    "TotalVariationLoss",
    "default_loss",
]
