"""Categorical negative log-likelihood of 8-bit images, the training loss of autoregressive models
with 256-way softmax outputs such as PixelCNN (van den Oord et al. 2016)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

LEVELS = 256


class CategoricalNLL(nn.Module):
    """Cross-entropy of logits (B, C, 256, H, W) against the target quantised to 8 bits,
    ``round(target * 255)``: the mean negative log-likelihood in nats per sub-pixel
    (divide by ln 2 for bits/dim). ``pred`` is ignored; the logits come as an auxiliary output.
    """

    def forward(self, pred: Tensor, target: Tensor, logits: Tensor | None = None, **aux) -> Tensor:
        if logits is None:
            raise ValueError(
                "CategoricalNLL needs the 'logits' auxiliary output (B, C, 256, H, W) of an "
                "autoregressive model such as restore.archs.pixelcnn.PixelCNN (in training "
                f"mode); the model gave aux keys {sorted(aux)}. Use another loss for this model."
            )
        if logits.dim() != 5 or logits.shape[2] != LEVELS:
            raise ValueError(
                f"CategoricalNLL expects logits of shape (B, C, {LEVELS}, H, W), "
                f"got {tuple(logits.shape)}"
            )
        b, c, _, h, w = logits.shape
        if target.shape != (b, c, h, w):
            raise ValueError(
                f"CategoricalNLL target {tuple(target.shape)} does not match logits "
                f"{tuple(logits.shape)} (expected (B, C, H, W) = {(b, c, h, w)})"
            )
        labels = (target.detach().clamp(0, 1) * (LEVELS - 1)).round().long()
        return F.cross_entropy(logits.float().transpose(1, 2), labels)
