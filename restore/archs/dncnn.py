"""DnCNN (Zhang, Zuo, Chen, Meng, Zhang: "Beyond a Gaussian Denoiser", IEEE TIP 2017)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn


class DnCNN(nn.Module):
    """A plain stack of 3x3 convolutions: conv+ReLU, (depth-2) x conv+BN+ReLU, conv.

    With ``residual=True`` the stack predicts the noise and the output is ``x - net(x)`` (residual
    learning, the paper's DnCNN-S/B); otherwise it predicts the clean image directly.

    ``weights`` loads a state dict, either this class's own or the layout released by the authors
    in KAIR (``model.{0,2,...}.{weight,bias}``, batch norm folded into the convolutions; load it
    with ``batch_norm=False``).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int | None = None,
        depth: int = 17,
        width: int = 64,
        batch_norm: bool = True,
        residual: bool = True,
        weights: str | None = None,
    ):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        if residual and out_channels != in_channels:
            raise ValueError("DnCNN residual=True needs out_channels == in_channels")
        if depth < 2:
            raise ValueError(f"DnCNN depth must be >= 2, got {depth}")
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(inplace=True),
        ]
        for _ in range(depth - 2):
            layers.append(nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width, eps=1e-4, momentum=0.05))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(width, out_channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.residual = residual
        self._init_weights()
        if weights is not None:
            self.load_weights(weights)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        # The output layer starts small, so that the untrained network is near its trivial
        # answer (no noise removed): a full-scale random output costs hundreds of steps to undo.
        self.body[-1].weight.data.mul_(0.1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        return x - out if self.residual else out

    def load_weights(self, path: str | Path) -> None:
        """Load this class's state dict or the authors' released (KAIR) one from ``path``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"DnCNN weights file {path} does not exist (model.weights)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        state = {k.removeprefix("net."): v for k, v in state.items()}
        if any(k.startswith("model.") for k in state):  # the authors' KAIR layout
            state = {"body." + k.removeprefix("model."): v for k, v in state.items()}
        try:
            self.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(
                f"{path} does not fit this DnCNN (depth/width/batch_norm/channels); released "
                f"KAIR weights have batch norm folded in, so use model.batch_norm=false. {err}"
            ) from None
