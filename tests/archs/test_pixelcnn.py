"""Conditional gated PixelCNN (restore.archs.pixelcnn) and its loss (restore.losses.nll)."""

import math
from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from restore.archs.pixelcnn import PixelCNN
from restore.losses.base import LossSum
from restore.losses.nll import CategoricalNLL

CONF = Path(__file__).resolve().parents[2] / "conf"


def _small(channels: int, **kw) -> PixelCNN:
    args = dict(width=12, n_layers=3, kernel_size=3, cond_width=8, cond_layers=2) | kw
    return PixelCNN(channels, **args)


# ------------------------------------------------------------------------------------------------
# causality


@pytest.mark.parametrize("channels", [1, 3])
def test_logits_depend_only_on_earlier_subpixels_of_the_target(channels):
    torch.manual_seed(0)
    net = _small(channels).double()
    n_layers, p = 3, 1
    size = 10
    y = torch.rand(1, channels, size, size, dtype=torch.float64)
    x = torch.rand(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    logits = net.logits(y, x)
    raster = torch.arange(size * size).view(size, size)
    for i, j in [(0, 0), (0, 5), (6, 4), (9, 9), (5, 0), (3, 9)]:
        for c in range(channels):
            (grad,) = torch.autograd.grad(
                (logits[0, c, :, i, j] * torch.randn(256, dtype=torch.float64)).sum(),
                x,
                retain_graph=True,
            )
            g = grad[0].abs()  # (C, H, W)
            later = raster > i * size + j
            assert g[:, later].max() == 0, f"pixel {(i, j)} sees later pixels"
            assert g[c:, i, j].max() == 0, f"channel {c} of {(i, j)} sees itself or later channels"
            if c > 0:  # colour: the earlier channels of the same pixel are visible (R -> G -> B)
                assert (g[:c, i, j] > 0).all()
            earlier = (raster < i * size + j).expand(channels, -1, -1)
            if i == 0 and j == 0 and c == 0:
                assert g.max() == 0  # the very first sub-pixel depends on y alone
                continue
            if i or j:
                assert g[earlier].max() > 0, "no earlier pixel is visible"
            # the receptive field: rows [i-1-L*p, i], columns [j-L*p, j+L*p], exactly
            reach = n_layers * p
            assert g[:, : max(i - 1 - reach, 0)].max() == 0
            assert g[:, :, : max(j - reach, 0)].max() == 0
            assert g[:, :, j + reach + 1 :].max() == 0
            if i - 1 - reach >= 0:
                assert g[:, i - 1 - reach].max() > 0
            # no blind spot (unlike the original PixelCNN): the pixel up and L*p to the right
            if i >= 1 and j + reach < size:
                assert g[:, i - 1, j + reach].max() > 0
            if j >= 1:
                assert g[:, i, j - 1].max() > 0  # left neighbour


# ------------------------------------------------------------------------------------------------
# decoding


@pytest.mark.parametrize(("channels", "shape"), [(1, (8, 8)), (3, (8, 8)), (3, (5, 9))])
def test_greedy_decoding_is_consistent_with_the_full_teacher_forced_pass(channels, shape):
    torch.manual_seed(1)
    net = _small(channels).double().eval()
    y = torch.rand(2, channels, *shape, dtype=torch.float64)
    image, logits = net.autoregressive_decode(y)
    full = net.logits(y, image)
    assert image.shape == (2, channels, *shape)
    # the full pass fed the decoder's own output reproduces the decoder's logits...
    torch.testing.assert_close(logits, full, rtol=1e-9, atol=1e-9)
    # ...and the decoded image is its argmax everywhere
    levels = torch.round(image * 255).long()
    assert torch.equal(full.argmax(dim=2), levels)
    assert torch.allclose(levels / 255, image)
    # eval-mode forward is this greedy decoding
    torch.testing.assert_close(net(y), image)
    assert len(levels.unique()) > 3  # not a constant image


def test_sampling_is_autoregressive_and_temperature_controls_it():
    torch.manual_seed(2)
    net = _small(3).double().eval()
    y = torch.rand(1, 3, 6, 7, dtype=torch.float64)
    sample, logits = net.autoregressive_decode(y, sample=True, temperature=1.0)
    torch.testing.assert_close(logits, net.logits(y, sample), rtol=1e-9, atol=1e-9)
    greedy = net.restore(y, "greedy")
    assert not torch.equal(sample, greedy)  # a random init is far from one-hot
    cold = PixelCNN.restore(net, y, "sample", temperature=1e-6)
    torch.testing.assert_close(cold, greedy)


def test_expected_mode_and_training_outputs():
    torch.manual_seed(3)
    net = _small(3)
    y = torch.rand(2, 3, 7, 11)
    target = torch.rand(2, 3, 7, 11)
    net.train()
    image, aux = net(y, target=target)
    assert image.shape == (2, 3, 7, 11)
    assert aux["logits"].shape == (2, 3, 256, 7, 11)
    torch.testing.assert_close(image, PixelCNN.expectation(aux["logits"]))
    assert image.min() >= 0 and image.max() <= 1
    with pytest.raises(ValueError, match="target=clean"):
        net(y)
    net.eval()
    net.decode = "expected"
    expected = net(y)
    torch.testing.assert_close(expected, PixelCNN.expectation(net.logits(y, y)))
    with pytest.raises(ValueError, match="decode"):
        PixelCNN(1, decode="beam")
    with pytest.raises(ValueError, match="width"):
        PixelCNN(3, width=2)


# ------------------------------------------------------------------------------------------------
# loss and configs


def test_categorical_nll():
    nll = CategoricalNLL()
    target = torch.rand(2, 3, 4, 5)
    uniform = torch.zeros(2, 3, 256, 4, 5)
    assert nll(target, target, logits=uniform).item() == pytest.approx(math.log(256), rel=1e-6)
    # a logit spike on round(target * 255) gives a near-zero loss, on a neighbour a large one
    labels = torch.round(target * 255).long()
    spike = torch.full_like(uniform, -30.0).scatter_(2, labels[:, :, None], 30.0)
    assert nll(target, target, logits=spike).item() < 1e-6
    off = torch.full_like(uniform, -30.0).scatter_(2, ((labels + 1) % 256)[:, :, None], 30.0)
    assert nll(target, target, logits=off).item() == pytest.approx(60.0, rel=1e-3)
    with pytest.raises(ValueError, match="PixelCNN"):
        nll(target, target)
    with pytest.raises(ValueError, match="logits"):
        nll(target, target, logits=torch.zeros(2, 3, 10, 4, 5))


def test_configs_instantiate():
    model_cfg = OmegaConf.create(
        {"data": {"channels": 3}, "model": OmegaConf.load(CONF / "model" / "pixelcnn.yaml")}
    )
    net = hydra.utils.instantiate(model_cfg.model)
    assert isinstance(net, PixelCNN) and net.needs_target
    assert net.in_channels == net.out_channels == 3
    loss = hydra.utils.instantiate(OmegaConf.load(CONF / "loss" / "nll.yaml"))
    assert isinstance(loss, LossSum)
    net.train()
    y, x = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    pred, aux = net(y, target=x)
    total, parts = loss(pred, x, **aux)
    assert set(parts) == {"nll"}
    assert 0 < total.item() < 10
    total.backward()
    assert all(p.grad is not None for p in net.parameters())


# ------------------------------------------------------------------------------------------------
# training: it learns to denoise
