"""Noise degradations: statistics, reproducibility, and the published protocol's draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restore.degradations import (
    GaussianNoise,
    SaltPepperNoise,
    SeededNoise,
    TorchNoise,
    UniformNoise,
)


def test_gaussian_noise_has_the_configured_sigma():
    torch.manual_seed(0)  # the mean bound is 2.6 standard errors: fixed draws, not luck
    x = torch.full((4, 1, 128, 128), 0.5)
    y = GaussianNoise(sigma=25)(x)
    assert (y - x).std().item() == pytest.approx(25 / 255, rel=0.02)
    assert (y - x).mean().abs().item() < 1e-3
    bright = GaussianNoise(sigma=25)(torch.full((1, 1, 64, 64), 0.98))
    assert bright.max() > 1, "the published protocol does not clip"


def test_seeded_gaussian_equals_numpy_randomstate_protocol():
    x = torch.rand(2, 3, 9, 7)
    y = GaussianNoise(sigma=25)(x, SeededNoise([0, 0]))
    # the protocol: RandomState(0).normal(0, sigma/255, HxWxC) per image
    expected = np.random.RandomState(0).normal(0, 25 / 255, (9, 7, 3)).transpose(2, 0, 1)
    for i in range(2):
        np.testing.assert_allclose((y[i] - x[i]).numpy(), expected, atol=1e-6)


def test_seeded_noise_is_identical_across_calls_and_differs_across_seeds():
    x = torch.rand(2, 1, 16, 16)
    a = UniformNoise()(x, SeededNoise([1, 2]))
    b = UniformNoise()(x, SeededNoise([1, 2]))
    assert torch.equal(a, b)
    assert not torch.equal(a[0], a[1])


def test_blind_gaussian_draws_sigma_per_image_within_range():
    x = torch.full((64, 1, 64, 64), 0.5)
    y = GaussianNoise(sigma=None, sigma_range=(0, 55))(x, TorchNoise())
    sigmas = (y - x).flatten(1).std(dim=1) * 255
    assert sigmas.min() >= 0 and sigmas.max() <= 56
    assert sigmas.std() > 5, "sigma varies between images"


def test_uniform_noise_range():
    x = torch.full((2, 1, 64, 64), 0.5)
    d = (UniformNoise(low=-10, high=30)(x) - x) * 255
    assert d.min() >= -10 - 1e-4 and d.max() <= 30 + 1e-4
    assert d.mean().item() == pytest.approx(10, abs=0.5)


def test_salt_and_pepper_density_and_ratio():
    x = torch.full((2, 1, 200, 200), 0.5)
    y = SaltPepperNoise(density=0.2, salt_ratio=0.25)(x)
    salt = (y == 1).float().mean().item()
    pepper = (y == 0).float().mean().item()
    assert salt == pytest.approx(0.05, abs=0.005)
    assert pepper == pytest.approx(0.15, abs=0.005)
    assert torch.all((y == 0) | (y == 1) | (y == 0.5))


@pytest.mark.parametrize(
    "make",
    [
        lambda: GaussianNoise(sigma=None, sigma_range=None),
        lambda: GaussianNoise(sigma=None, sigma_range=(30, 10)),
        lambda: UniformNoise(low=5, high=5),
        lambda: SaltPepperNoise(density=1.5),
    ],
)
def test_bad_parameters_are_refused(make):
    with pytest.raises(ValueError, match="noise"):
        make()
