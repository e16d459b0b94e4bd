"""BM3D as a model: the reference implementation's output, image by image, on the seeded input."""

from __future__ import annotations

import bm3d
import numpy as np
import pytest
import torch

from restore.archs.bm3d import BM3D


def _smooth(size=48, channels=1, seed=0):
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    base = 0.5 + 0.3 * torch.sin(6 * xx) * torch.cos(4 * yy)
    return base.expand(channels, size, size).clone()


def test_each_image_is_the_reference_bm3d_and_denoises():
    clean = torch.stack([_smooth(), _smooth().flip(-1)])
    noisy = (
        clean + torch.from_numpy(np.random.RandomState(0).randn(*clean.shape)).float() * 25 / 255
    )
    out = BM3D(sigma=25)(noisy)
    expected = bm3d.bm3d(noisy[1, 0].double().numpy(), sigma_psd=25 / 255)
    np.testing.assert_allclose(out[1, 0].numpy(), expected, rtol=0, atol=1e-6)

    def psnr(a, b):
        return float(10 * torch.log10(1 / (a - b).pow(2).mean()))

    assert psnr(out, clean) > psnr(noisy, clean) + 8


def test_colour_images_use_bm3d_rgb():
    clean = _smooth(channels=3)[None]
    noisy = clean + torch.randn(clean.shape, generator=torch.Generator().manual_seed(0)) * 0.1
    out = BM3D(sigma=25.5, in_channels=3)(noisy)
    expected = bm3d.bm3d_rgb(noisy[0].permute(1, 2, 0).double().numpy(), 0.1)
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), expected, rtol=0, atol=1e-6)


def test_bad_settings_and_tiny_images_are_one_line_errors():
    with pytest.raises(ValueError, match=r"model\.sigma"):
        BM3D(sigma=0)
    with pytest.raises(ValueError, match="in_channels=1 or 3"):
        BM3D(in_channels=2)
    with pytest.raises(ValueError, match=r"data\.test_crop"):
        BM3D()(torch.zeros(1, 1, 8, 8))  # the library would segfault here
