"""Per-pixel and regularisation loss terms: Charbonnier, total variation and the VAE KL term.

All terms follow the loss contract ``forward(pred, target, **aux) -> scalar`` and are computed in
float32 with autocast disabled: they are cheap, and bf16 (8 mantissa bits) would round away the
small residuals they are meant to measure.
"""

import kornia
import torch
from torch import Tensor, nn


class CharbonnierLoss(nn.Module):
    """Charbonnier (smooth L1) penalty ``mean(sqrt((pred - target)^2 + eps^2)) - eps``.

    Lai et al., "Deep Laplacian Pyramid Networks for Fast and Accurate Super-Resolution", CVPR 2017.
    The constant ``eps`` is subtracted so that the term is 0 for identical images; this shifts the
    value only, the gradient is the paper's.
    """

    def __init__(self, eps: float = 1e-3):
        super().__init__()
        if eps <= 0:
            raise ValueError(f"CharbonnierLoss eps must be > 0, got {eps}")
        self.eps = float(eps)

    def forward(self, pred: Tensor, target: Tensor, **aux: Tensor) -> Tensor:
        with torch.autocast(pred.device.type, enabled=False):
            diff = pred.float() - target.float()
            return torch.sqrt(diff * diff + self.eps**2).mean() - self.eps


class TotalVariationLoss(nn.Module):
    """Anisotropic total variation of the prediction (Rudin, Osher & Fatemi, Physica D 1992).

    A smoothness prior on ``pred`` alone (``target`` is ignored), through
    ``kornia.losses.total_variation(reduction="mean")``: the mean absolute vertical plus the mean
    absolute horizontal neighbour difference, per image and channel, then averaged, so the value
    does not depend on image size (0 for a constant image, about 0.67 for uniform noise).
    """

    def forward(self, pred: Tensor, target: Tensor, **aux: Tensor) -> Tensor:
        with torch.autocast(pred.device.type, enabled=False):
            return kornia.losses.total_variation(pred.float(), reduction="mean").mean()


class KLDivergenceLoss(nn.Module):
    """KL divergence of the VAE posterior N(mu, exp(logvar)) from the prior N(0, I).

    Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014:
    ``KL = -0.5 * sum(1 + logvar - mu^2 - exp(logvar))``. Reads ``mu`` and ``logvar`` from the
    network's auxiliary outputs. ``reduction="mean"`` (default) averages over every latent element,
    so the weight (the beta of a beta-VAE) does not depend on the latent size; ``"batchmean"`` sums
    over latent dimensions and averages over the batch, the per-sample KL of the ELBO.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "batchmean"):
            raise ValueError(
                f"KLDivergenceLoss reduction must be 'mean' or 'batchmean', got {reduction!r}"
            )
        self.reduction = reduction

    def forward(self, pred: Tensor, target: Tensor, **aux: Tensor) -> Tensor:
        mu, logvar = aux.get("mu"), aux.get("logvar")
        if mu is None or logvar is None:
            raise ValueError(
                "KLDivergenceLoss needs the auxiliary outputs 'mu' and 'logvar', got aux keys "
                f"{sorted(aux)}: the model must be a VAE (an arch returning (image, "
                "{'mu': ..., 'logvar': ...}) in training mode); remove the kl term otherwise"
            )
        if mu.shape != logvar.shape:
            raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} differ")
        with torch.autocast(mu.device.type, enabled=False):
            mu, logvar = mu.float(), logvar.float()
            kl = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())
            if self.reduction == "batchmean":
                return kl.sum() / mu.shape[0]
            return kl.mean()
