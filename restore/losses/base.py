"""The loss contract: terms map ``(pred, target, **aux)`` to a scalar; ``LossSum`` weights them."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LossSum(nn.Module):
    """A weighted sum of named loss terms, as declared in a ``conf/loss`` YAML.

    Every term is called as ``term(pred, target, **aux)`` where ``aux`` holds the auxiliary
    outputs of the network (for example ``mu``/``logvar`` of a VAE). Returns the weighted total
    and the unweighted value of each term, so that every term can be logged on its own.
    """

    def __init__(self, terms: dict[str, nn.Module], weights: dict[str, float] | None = None):
        super().__init__()
        if not terms:
            raise ValueError("loss.terms is empty: declare at least one loss term")
        weights = dict(weights or {})
        unknown = set(weights) - set(terms)
        if unknown:
            raise ValueError(
                f"loss.weights names {sorted(unknown)}, which are not in loss.terms {sorted(terms)}"
            )
        self.terms = nn.ModuleDict(terms)
        self.weights = {name: float(weights.get(name, 1.0)) for name in terms}

    def forward(
        self, pred: Tensor, target: Tensor, **aux: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        values = {name: term(pred, target, **aux) for name, term in self.terms.items()}
        total = torch.stack([self.weights[n] * v.float() for n, v in values.items()]).sum()
        return total, values


class L1Loss(nn.Module):
    """Mean absolute error."""

    def forward(self, pred: Tensor, target: Tensor, **aux: Tensor) -> Tensor:
        return torch.nn.functional.l1_loss(pred, target)


class MSELoss(nn.Module):
    """Mean squared error; ``reduction="sum_half"``: DnCNN's 1/(2N) sum of squares per batch."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum_half"):
            raise ValueError(f"MSELoss reduction must be 'mean' or 'sum_half', got {reduction!r}")
        self.reduction = reduction

    def forward(self, pred: Tensor, target: Tensor, **aux: Tensor) -> Tensor:
        if self.reduction == "sum_half":
            return (pred - target).pow(2).sum() / (2 * pred.shape[0])
        return torch.nn.functional.mse_loss(pred, target)


def default_loss(model: str) -> LossSum:
    """The training objective the network class ``model`` (a dotted path) declares, else MSE."""
    import hydra

    factory = getattr(hydra.utils.get_class(model), "default_loss", None)
    return factory() if factory is not None else LossSum({"mse": MSELoss()})
