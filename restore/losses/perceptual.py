"""Perceptual (feature) loss on a frozen, ImageNet-pretrained torchvision MobileNetV3.

Johnson et al., "Perceptual Losses for Real-Time Style Transfer and Super-Resolution", ECCV 2016,
with the VGG replaced by MobileNetV3 (Howard et al., "Searching for MobileNetV3", ICCV 2019), which
is about 20x cheaper. Pretrained weights are never downloaded implicitly (runs may be offline):
they come from the torch hub cache, from ``download=True``, or from a local ``weights_path``.
"""

import os
from collections.abc import Sequence

import torch
import torchvision
from torch import Tensor, nn

_BUILDERS = {
    "large": (torchvision.models.mobilenet_v3_large, torchvision.models.MobileNet_V3_Large_Weights),
    "small": (torchvision.models.mobilenet_v3_small, torchvision.models.MobileNet_V3_Small_Weights),
}
# Indices into ``model.features``: the last block at stride 4, 8 and 16.
DEFAULT_LAYERS = {"large": (3, 6, 12), "small": (1, 3, 8)}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _pretrained_state_dict(
    variant: str, weights: str | None, weights_path: str | None, download: bool
) -> dict[str, Tensor]:
    """The state dict of the full torchvision MobileNetV3 model, from a file or the hub cache."""
    if weights_path is not None:
        path = os.path.expanduser(str(weights_path))
        if not os.path.isfile(path):
            raise RuntimeError(f"PerceptualLoss weights_path {path!r} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        return state
    enum = _BUILDERS[variant][1]
    hint = (
        f"either set `weights_path` to a local state-dict file of torchvision's "
        f"mobilenet_v3_{variant} (e.g. loss.terms.perceptual.weights_path=/path/to/file.pth), "
        f"or set `download=True` (loss.terms.perceptual.download=true) once on a machine with "
        f"network access to fetch torchvision's pretrained weights into the torch hub cache "
        f"({os.path.join(torch.hub.get_dir(), 'checkpoints')}, set by TORCH_HOME)"
    )
    if weights is None:
        raise RuntimeError(
            "PerceptualLoss refuses to run on randomly initialised features (weights=None and "
            f"no weights_path): {hint}"
        )
    try:
        weight_enum = enum[str(weights)]
    except KeyError:
        names = ["DEFAULT", *(w.name for w in enum)]
        msg = f"PerceptualLoss weights must be one of {names}, got {weights!r}"
        raise ValueError(msg) from None
    filename = os.path.basename(weight_enum.url)
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", filename)
    if not (os.path.isfile(cached) or download):
        raise RuntimeError(
            f"PerceptualLoss needs pretrained MobileNetV3-{variant} weights ({weight_enum}), but "
            f"{cached} is not in the torch hub cache and download=False; {hint}, or copy "
            f"{weight_enum.url} to {cached}"
        )
    # Loads from the cache when the file is there; downloads only when download=True.
    return weight_enum.get_state_dict(progress=False, check_hash=True)


class PerceptualLoss(nn.Module):
    """Mean L1 (or MSE) distance between MobileNetV3 feature maps of ``pred`` and ``target``.

    Args:
        variant: ``"large"`` or ``"small"`` torchvision MobileNetV3.
        layers: indices into ``model.features`` whose outputs are compared (default: the last
            block at stride 4, 8 and 16); the network is truncated after the deepest one.
        layer_weights: one weight per layer (default 1 each); the result is their weighted mean.
        weights: torchvision weight name (``"DEFAULT"``, ``"IMAGENET1K_V1"``...), used only if the
            file is already in ``torch.hub.get_dir()/checkpoints`` or ``download=True``.
        weights_path: a local state dict of the full torchvision model; takes precedence.
        download: allow downloading ``weights`` into the hub cache.
        criterion: ``"l1"`` or ``"mse"``.

    The network is frozen (``requires_grad=False``) and always in eval mode. Inputs in [0, 1] are
    ImageNet-normalised; gray (1-channel) images are replicated to 3 channels. The target
    features are computed without a graph.
    """

    def __init__(
        self,
        variant: str = "large",
        layers: Sequence[int] | None = None,
        layer_weights: Sequence[float] | None = None,
        weights: str | None = "DEFAULT",
        weights_path: str | None = None,
        download: bool = False,
        criterion: str = "l1",
    ):
        super().__init__()
        if variant not in _BUILDERS:
            raise ValueError(f"PerceptualLoss variant must be one of {sorted(_BUILDERS)}")
        if criterion not in ("l1", "mse"):
            raise ValueError(f"PerceptualLoss criterion must be 'l1' or 'mse', got {criterion!r}")
        model = _BUILDERS[variant][0](weights=None)
        n_blocks = len(model.features)
        layers = [int(i) for i in (DEFAULT_LAYERS[variant] if layers is None else layers)]
        if (
            not layers
            or any(not 0 <= i < n_blocks for i in layers)
            or len(set(layers)) != len(layers)
        ):
            raise ValueError(
                f"PerceptualLoss layers must be distinct indices in [0, {n_blocks}), got {layers}"
            )
        if layer_weights is None:
            layer_weights = [1.0] * len(layers)
        if len(layer_weights) != len(layers):
            raise ValueError(
                f"PerceptualLoss got {len(layer_weights)} layer_weights for {len(layers)} layers"
            )
        if any(w < 0 for w in layer_weights) or sum(layer_weights) <= 0:
            raise ValueError(
                f"PerceptualLoss layer_weights must be >= 0 and not all 0, got {layer_weights}"
            )
        model.load_state_dict(_pretrained_state_dict(variant, weights, weights_path, download))
        self.layers = sorted(layers)
        order = sorted(range(len(layers)), key=lambda k: layers[k])
        self.layer_weights = [float(layer_weights[k]) for k in order]
        self.criterion = criterion
        self.features = model.features[: self.layers[-1] + 1]
        self.features.eval()
        self.features.requires_grad_(False)
        mean, std = torch.tensor(_IMAGENET_MEAN), torch.tensor(_IMAGENET_STD)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "PerceptualLoss":
        """Keep the feature extractor in eval mode (frozen BatchNorm statistics) whatever mode."""
        super().train(mode)
        self.features.eval()
        return self

    def _extract(self, x: Tensor) -> list[Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != 3:
            raise ValueError(f"PerceptualLoss expects 1 or 3 channels, got {x.shape[1]}")
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in self.layers:
                out.append(x)
        return out

    def forward(self, pred: Tensor, target: Tensor, **aux: Tensor) -> Tensor:
        feats_pred = self._extract(pred)
        with torch.no_grad():
            feats_target = self._extract(target)
        distance = nn.functional.l1_loss if self.criterion == "l1" else nn.functional.mse_loss
        terms = [
            w * distance(fp.float(), ft.float())
            for w, fp, ft in zip(self.layer_weights, feats_pred, feats_target, strict=True)
        ]
        return torch.stack(terms).sum() / sum(self.layer_weights)
