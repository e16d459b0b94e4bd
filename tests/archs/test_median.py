"""The median filter as a model: the windowed median with reflected borders, and it removes
impulse noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import median_filter

from restore.archs.median import Median
from restore.degradations import TorchNoise
from restore.degradations.noise import SaltPepperNoise


def _smooth(size=48, channels=1):
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    base = 0.5 + 0.3 * torch.sin(6 * xx) * torch.cos(4 * yy)
    return base.expand(channels, size, size).clone()


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_each_channel_is_scipys_median_with_reflected_borders(kernel_size):
    x = torch.rand(2, 3, 17, 20, generator=torch.Generator().manual_seed(0))
    out = Median(kernel_size, in_channels=3, out_channels=3)(x)
    # scipy's "mirror" is torch's "reflect" (the edge pixel is not repeated)
    expected = median_filter(x.numpy(), size=(1, 1, kernel_size, kernel_size), mode="mirror")
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=0)


def test_it_removes_salt_and_pepper_noise():
    clean = _smooth()[None]
    noisy = SaltPepperNoise(density=0.1)(clean, TorchNoise(torch.Generator().manual_seed(0)))

    def psnr(a, b):
        return float(10 * torch.log10(1 / (a - b).pow(2).mean()))

    assert psnr(noisy, clean) < 16
    assert psnr(Median()(noisy), clean) > psnr(noisy, clean) + 15


def test_bad_settings_and_tiny_images_are_one_line_errors():
    with pytest.raises(ValueError, match=r"model\.kernel_size"):
        Median(kernel_size=4)
    with pytest.raises(ValueError, match="keeps the channels"):
        Median(in_channels=1, out_channels=3)
    with pytest.raises(ValueError, match=r"data\.test_crop"):
        Median(kernel_size=5)(torch.zeros(1, 1, 2, 2))
