"""The receptive radius read from a network's graph: exact for local networks, None otherwise."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from restore.archs import EDSR, DnCNN, UNet
from restore.inference.receptive import receptive_radius
from restore.inference.tiling import tiled_apply


class TwoBranches(nn.Module):
    """A 5x5 branch and a dilated 3x3 branch (radius 2 each), concatenated on channels, then a
    3x3: radius 3."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.a = nn.Conv2d(1, 4, 5, padding=2)
        self.b = nn.Conv2d(1, 4, 3, padding=2, dilation=2)
        self.head = nn.Conv2d(8, 1, 3, padding="same")
        self.dim = dim

    def forward(self, x):
        return x + self.head(torch.cat([F.relu(self.a(x)), self.b(x).sigmoid()], dim=self.dim))


class Pooled(nn.Module):
    """Convolutions around a functional pooling: the pooling is seen and makes it unknown."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0))


class Positional(nn.Module):
    """A learned per-position constant: not translation invariant, so tiles would differ."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.bias = nn.Parameter(torch.zeros(1, 1, 8, 8))

    def forward(self, x):
        return self.conv(x) + self.bias


@pytest.mark.parametrize(
    ("net", "radius"),
    [
        (DnCNN(1, depth=17, width=8), 17),  # the published receptive field 35 = 2 * 17 + 1
        (DnCNN(1, depth=17, width=8, batch_norm=False), 17),  # the released weights' layout
        (DnCNN(3, depth=4, width=8), 4),
        (TwoBranches(), 3),
        (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.PReLU()), 1),
        (nn.Identity(), 0),
    ],
)
def test_local_networks_have_their_radius(net, radius):
    assert receptive_radius(net) == radius


@pytest.mark.parametrize(
    "net",
    [
        UNet(1, 1, depth=2, width=8),  # down-sampling: sees far
        EDSR(3, 3, scale=2, n_blocks=1, width=8),  # pixel shuffle: not a same-size map
        Pooled(),
        Positional(),
        TwoBranches(dim=2),  # concatenated along height: not pointwise
        nn.Conv2d(1, 1, 3, stride=2, padding=1),
        nn.Conv2d(1, 1, 3, padding=0),  # shrinks the image
        nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular"),  # would wrap around the tile
        nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.InstanceNorm2d(1)),  # image statistics
    ],
)
def test_non_local_or_unknown_networks_have_none(net):
    assert receptive_radius(net) is None


def test_the_radius_is_the_smallest_exact_overlap():
    """Tiles with margins of the radius equal the untiled output; one pixel less does not."""
    torch.manual_seed(0)
    net = TwoBranches().eval()
    radius = receptive_radius(net)
    x = torch.rand(1, 1, 70, 90)
    with torch.inference_mode():
        whole = net(x)
    exact = tiled_apply(net, x, tile=32, overlap=radius, blend=0)
    short = tiled_apply(net, x, tile=32, overlap=radius - 1, blend=0)
    assert (exact - whole).abs().max().item() < 1e-5
    assert (short - whole).abs().max().item() > 1e-3
