"""FFDNet: sub-image layout, odd sizes, and the residual variant used by the CPU-budget recipe."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio

from restore.archs.ffdnet import FFDNet


def psnr(a, b):
    return peak_signal_noise_ratio(a.clamp(0, 1), b, data_range=1.0).item()


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(32, 32), (33, 27)])
@pytest.mark.parametrize("residual", [False, True])
def test_ffdnet_keeps_shape_and_gets_gradients(channels, size, residual):
    net = FFDNet(channels, depth=4, width=16, residual=residual)
    x = torch.rand(2, channels, *size)
    out = net(x)
    assert out.shape == x.shape
    out.mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_residual_ffdnet_starts_near_its_input_and_the_plain_one_does_not():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 48, 48)
    residual = FFDNet(1, residual=True).eval()
    plain = FFDNet(1, residual=False).eval()
    with torch.no_grad():
        # the residual net starts by returning (roughly) its input; the plain one does not
        assert psnr(residual(x), x) > 18.0
        assert psnr(plain(x), x) < 8.0


def test_residual_ffdnet_needs_matching_channels():
    with pytest.raises(ValueError, match="residual=True needs out_channels == in_channels"):
        FFDNet(3, out_channels=1, residual=True)
