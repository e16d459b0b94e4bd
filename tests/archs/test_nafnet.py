"""NAFNet: the published networks' sizes, the block's parts, any image size, starts as identity."""

from __future__ import annotations

import pytest
import torch

from restore.archs.nafnet import NAFBlock, NAFNet, simple_gate


def _params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(
    ("width", "encoder", "middle", "decoder", "millions"),
    [
        (32, [2, 2, 4, 8], 12, [2, 2, 2, 2], 29.16),  # the authors' SIDD configuration
        (64, [1, 1, 1, 28], 1, [1, 1, 1, 1], 67.89),  # their GoPro one (67.89 M, as cited)
    ],
)
def test_the_released_configurations_have_their_sizes(width, encoder, middle, decoder, millions):
    net = NAFNet(3, 3, width, encoder, middle, decoder)
    assert round(_params(net) / 1e6, 2) == millions


def test_a_block_has_the_parts_of_the_papers_figure():
    # 1x1 c->2c, depthwise 3x3 on 2c, attention 1x1 c->c, 1x1 c->c; FFN 1x1 c->2c, 1x1 c->c
    # (all with biases), two LayerNorms and the two scales: 7c^2 + 33c parameters
    c = 24
    assert _params(NAFBlock(c)) == 7 * c * c + 33 * c


def test_simple_gate_multiplies_the_halves():
    x = torch.arange(8.0).view(1, 4, 1, 2)
    torch.testing.assert_close(simple_gate(x), x[:, :2] * x[:, 2:])


def test_a_new_network_is_the_identity_plus_its_ending():
    # beta = gamma = 0: every block passes its input; with the ending zeroed, out == in
    net = NAFNet(1, 1, width=8, encoder_blocks=[1, 1], middle_blocks=1, decoder_blocks=[1, 1])
    torch.nn.init.zeros_(net.ending.weight)
    torch.nn.init.zeros_(net.ending.bias)
    x = torch.rand(2, 1, 20, 20)
    with torch.no_grad():
        torch.testing.assert_close(net(x), x)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(32, 32), (37, 21)])
def test_nafnet_keeps_shape_and_gets_gradients(channels, size):
    torch.manual_seed(0)
    net = NAFNet(channels, channels, 8, [1, 1], 1, [1, 1])
    x = torch.rand(2, channels, *size).contiguous(memory_format=torch.channels_last)
    out = net(x)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="one entry per scale"):
        NAFNet(1, 1, 8, [1, 1], 1, [1])
