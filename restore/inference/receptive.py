"""How far a network sees: the receptive radius read from its traced graph, when it is bounded.

A network's output pixel depends on the input pixels at most ``radius`` away when every operation
on the way is either a stride-1, size-preserving convolution (it adds ``dilation * (k - 1) // 2``)
or pointwise (activations, eval-mode batch norm, sums of tensors, channel concatenation). Then
tiles whose inner margins are at least ``radius`` reproduce the untiled output exactly
(:mod:`restore.inference.tiling`). DnCNN with 17 layers of 3x3 convolutions has radius 17
(receptive field 35).

The graph comes from ``torch.fx.symbolic_trace``, which sees functional calls in ``forward`` as
well as modules, so a hidden ``F.interpolate`` or pooling cannot pass unnoticed: any operation
not known to be local (pooling, strides, resampling, attention, normalisation over the image,
learned position-dependent constants, data-dependent control flow that fx cannot trace) gives
``None``, "unbounded or unknown". No library computes this for arbitrary PyTorch modules
(torchscan and receptive-field packages probe sequential models or need an input size and do not
prove boundedness), hence the few lines here.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

__all__ = ["receptive_radius"]

# modules that act on each pixel alone (batch norm: in eval mode, as inference runs it)
_POINTWISE_MODULES = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardtanh,
    nn.Softplus,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
    nn.BatchNorm2d,
)
_POINTWISE_FUNCTIONS = {
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.neg,
    torch.add,
    torch.sub,
    torch.mul,
    torch.div,
    torch.neg,
    torch.relu,
    torch.sigmoid,
    torch.tanh,
    torch.clamp,
    F.relu,
    F.leaky_relu,
    F.gelu,
    F.silu,
    F.elu,
}
_POINTWISE_METHODS = {
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "relu",
    "sigmoid",
    "tanh",
    "clamp",
    "float",
    "contiguous",
}


def _conv_radius(conv: nn.Conv2d) -> int | None:
    """Pixels a size-preserving stride-1 convolution adds to the radius; None for any other."""
    if conv.stride != (1, 1) or conv.padding_mode == "circular":  # circular: wraps the tile
        return None
    if isinstance(conv.padding, str) and conv.padding != "same":
        return None
    radius = 0
    for k, d, p in zip(conv.kernel_size, conv.dilation, _padding(conv), strict=True):
        if k % 2 == 0 or p != d * (k - 1) // 2:  # output size != input size: not a plain map
            return None
        radius = max(radius, p)
    return radius


def _padding(conv: nn.Conv2d) -> tuple[int, int]:
    if conv.padding == "same":
        return tuple(d * (k - 1) // 2 for k, d in zip(conv.kernel_size, conv.dilation, strict=True))
    return conv.padding


def _is_channel_cat(node: fx.Node) -> bool:
    dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
    return node.target in (torch.cat, torch.concat) and dim in (1, -3)


def receptive_radius(net: nn.Module) -> int | None:
    """Input pixels an output pixel of ``net`` can depend on, on each side; None when unknown or
    unbounded (see the module doc). Assumes inference (batch norm in eval mode)."""
    try:
        graph = fx.symbolic_trace(net).graph
    except Exception:  # untraceable forward (data-dependent control flow): nothing is known
        return None
    modules = dict(net.named_modules())
    radius: dict[fx.Node, int] = {}
    for node in graph.nodes:
        if node.op == "placeholder":
            radius[node] = 0
            continue
        if node.op == "output":
            outputs = [n for n in node.all_input_nodes]
            return max((radius[n] for n in outputs), default=0)
        inputs = [radius[n] for n in node.all_input_nodes]
        here = max(inputs, default=0)
        if node.op == "call_module":
            module = modules[node.target]
            if isinstance(module, nn.Conv2d):
                added = _conv_radius(module)
                if added is None:
                    return None
                here += added
            elif not isinstance(module, _POINTWISE_MODULES):
                return None
        elif node.op == "call_function":
            if node.target not in _POINTWISE_FUNCTIONS and not _is_channel_cat(node):
                return None
        elif node.op == "call_method":
            if node.target not in _POINTWISE_METHODS:
                return None
        else:  # get_attr: a stored tensor could vary with the position
            return None
        radius[node] = here
    return None
