"""The contract every member of the ``noise`` group obeys, checked on each YAML in conf/noise.

A new degradation (one Python file and one YAML) is tested here without editing this file: it is
built from its YAML and must make a reproducible per-image observation, of the size its scale
says, with a mask where it hides pixels, an operator that maps a clean image to the observation's
space (differentiable where it is exact), and a data term DIP can use.
"""

from __future__ import annotations

import hydra
import numpy as np
import pytest
import torch
from PIL import Image

from restore.degradations import Degradation, Observation, SeededNoise, TorchNoise
from restore.degradations.base import DATA_FITS
from restore.utils.config import CONFIG_DIR
from tests.conftest import compose_config

MEMBERS = sorted(p.stem for p in (CONFIG_DIR / "noise").glob("*.yaml"))
SIZE = 32  # a multiple of every scale the group uses (2, 3, 4)


def build(option: str, tmp_path) -> Degradation:
    """The member as ``python -m restore.dip noise=OPTION`` builds it (no task: SR's scale 4)."""
    overrides = [f"noise={option}"]
    if option == "mask_file":  # its default mask lives in ../shared: a mask made here instead
        mask = np.full((SIZE, SIZE), 255, np.uint8)
        mask[8:20, 4:28] = 0
        Image.fromarray(mask).save(tmp_path / "mask.png")
        overrides.append(f"noise.path={tmp_path / 'mask.png'}")
    cfg = compose_config("dip", overrides, tmp_path)
    return hydra.utils.instantiate(cfg.noise)


def clean_batch(n: int = 3, channels: int = 1) -> torch.Tensor:
    """Smooth 8-bit-valued images with some texture, away from 0 and 1."""
    g = torch.Generator().manual_seed(0)
    base = torch.rand(n, channels, SIZE // 4, SIZE // 4, generator=g)
    x = torch.nn.functional.interpolate(base, size=(SIZE, SIZE), mode="bilinear")
    return (0.2 + 0.6 * x).mul(255).round().div(255)


@pytest.fixture(params=MEMBERS)
def member(request, tmp_path) -> tuple[str, Degradation]:
    return request.param, build(request.param, tmp_path).eval()


def test_observation_has_the_declared_shape_and_fields(member):
    name, deg = member
    x = clean_batch()
    obs = deg.observe(x, SeededNoise([0, 1, 2]))
    assert isinstance(obs, Observation)
    assert obs.scale == deg.scale >= 1
    assert obs.input.shape == (3, 1, SIZE // deg.scale, SIZE // deg.scale), name
    assert obs.input.dtype == x.dtype and torch.isfinite(obs.input).all()
    assert obs.data_fit in DATA_FITS
    assert not torch.equal(deg(x, SeededNoise([0, 1, 2])), x[..., :: deg.scale, :: deg.scale])
    if obs.mask is not None:  # binary, of the clean size, and holes really hidden
        assert obs.mask.shape == (3, 1, SIZE, SIZE)
        assert set(obs.mask.unique().tolist()) <= {0.0, 1.0} and (obs.mask == 0).any()


def test_evaluation_draws_are_seeded_per_image(member):
    """The published protocol: each image's degradation depends on its own seed alone."""
    name, deg = member
    x = clean_batch()
    batch = deg.observe(x, SeededNoise([5, 6, 7]))
    again = deg.observe(x, SeededNoise([5, 6, 7]))
    torch.testing.assert_close(batch.input, again.input, rtol=0, atol=0)
    alone = deg.observe(x[1:2], SeededNoise([6]))
    torch.testing.assert_close(batch.input[1:2], alone.input, rtol=0, atol=0, msg=name)
    if batch.mask is not None:
        torch.testing.assert_close(batch.mask[1:2], alone.mask, rtol=0, atol=0)


def test_training_draws_follow_torchs_generator(member):
    _, deg = member
    deg.train()
    x = clean_batch()
    torch.manual_seed(3)
    first = deg.observe(x, TorchNoise()).input
    torch.manual_seed(3)
    torch.testing.assert_close(deg.observe(x, TorchNoise()).input, first, rtol=0, atol=0)


def test_operator_maps_the_clean_image_to_the_observation_space(member):
    name, deg = member
    x = clean_batch(1).requires_grad_(True)
    obs = deg.observe(x.detach(), SeededNoise([0]))
    mapped = obs.operator(x)
    assert mapped.shape == obs.input.shape, name
    if obs.linear:  # an exact operator is differentiable: DIP fits through it
        mapped.sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0


def test_colour_images_keep_their_channels(member):
    name, deg = member
    x = clean_batch(2, channels=3)
    obs = deg.observe(x, SeededNoise([0, 1]))
    assert obs.input.shape[:2] == (2, 3), name
