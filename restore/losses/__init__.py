"""Loss terms and their weighted sums (the ``loss`` config group)."""

from restore.losses.base import L1Loss, LossSum, MSELoss

__all__ = ["L1Loss", "LossSum", "MSELoss"]
