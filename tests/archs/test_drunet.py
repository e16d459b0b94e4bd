"""DRUNet: the published network's size, any image size, the noise-level map, residual option."""

from __future__ import annotations

import pytest
import torch

from restore.archs.drunet import DRUNet


def test_the_published_network_has_the_papers_parameter_count():
    # Zhang et al. (TPAMI 2021), colour DRUNet with its noise-level map: 32,640,960 parameters
    net = DRUNet(3, 3, width=64, blocks=4, sigma=25)
    assert sum(p.numel() for p in net.parameters()) == 32_640_960


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(32, 32), (37, 21)])
def test_drunet_keeps_shape_and_gets_gradients(channels, size):
    net = DRUNet(channels, channels, width=8, blocks=1, sigma=25)
    x = torch.rand(2, channels, *size)
    out = net(x)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_the_noise_level_map_reaches_the_output():
    torch.manual_seed(0)
    net = DRUNet(1, 1, width=8, blocks=1, sigma=25).eval()
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        at_25 = net(x)
        net.sigma = 50
        assert not torch.allclose(net(x), at_25)


def test_residual_adds_the_input_and_only_for_matching_channels():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 16, 16)
    plain = DRUNet(1, 1, width=8, blocks=1).eval()
    residual = DRUNet(1, 1, width=8, blocks=1, residual=True).eval()
    residual.load_state_dict(plain.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(residual(x), x + plain(x))
    assert not DRUNet(1, 3, width=8, blocks=0, residual=True).residual


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="blocks >= 0"):
        DRUNet(1, 1, blocks=-1)
