"""Conditional gated PixelCNN (restore.archs.pixelcnn) and its loss (restore.losses.nll)."""

import math
import time
from pathlib import Path

import hydra
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from restore.archs.pixelcnn import PixelCNN
from restore.losses.base import LossSum
from restore.losses.nll import CategoricalNLL

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture(autouse=True)
def one_thread():
    """Decoding and these small nets are bound by per-op overhead: extra intra-op threads only
    add synchronisation (and stall badly on a busy machine), so run this module on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _small(channels: int, std: float | None = None, **kw) -> PixelCNN:
    """A small random PixelCNN. ``std`` redraws every parameter from N(0, std^2): at the default
    init the logits are dominated by the output bias, and greedy decoding gives flat images."""
    args = dict(width=24, n_layers=3, kernel_size=3, cond_width=8, cond_layers=2) | kw
    net = PixelCNN(channels, **args)
    if std is not None:
        with torch.no_grad():
            for param in net.parameters():
                param.normal_(0, std)
    return net


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
            assert g[:, later].sum() == 0, f"pixel {(i, j)} sees later pixels"
            assert g[c:, i, j].sum() == 0, f"channel {c} of {(i, j)} sees itself or later channels"
            if c > 0:  # colour: the earlier channels of the same pixel are visible (R -> G -> B)
                assert (g[:c, i, j] > 0).all()
            earlier = (raster < i * size + j).expand(channels, -1, -1)
            if i == 0 and j == 0 and c == 0:
                assert g.sum() == 0  # the very first sub-pixel depends on y alone
                continue
            if i or j:
                assert g[earlier].max() > 0, "no earlier pixel is visible"
            # the receptive field: rows [i-1-L*p, i], columns [j-L*p, j+L*p], exactly
            reach = n_layers * p
            assert g[:, : max(i - 1 - reach, 0)].sum() == 0
            assert g[:, :, : max(j - reach, 0)].sum() == 0
            assert g[:, :, j + reach + 1 :].sum() == 0
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
    net = _small(channels, std=0.3).double().eval()
    y = torch.rand(2, channels, *shape, dtype=torch.float64)
    image, logits = net.autoregressive_decode(y)
    full = net.logits(y, image)
    assert image.shape == (2, channels, *shape)
    # the full pass fed the decoder's own output reproduces the decoder's logits...
    torch.testing.assert_close(logits, full, rtol=1e-9, atol=1e-9)
    # ...and the decoded image is its argmax everywhere
    levels = torch.round(image * 255).long()
    assert torch.equal(full.argmax(dim=2), levels)
    assert torch.allclose(levels.double() / 255, image)
    # eval-mode forward is this greedy decoding
    torch.testing.assert_close(net(y), image)
    assert len(levels.unique()) > 8  # not a flat image


def test_sampling_is_autoregressive_and_temperature_controls_it():
    torch.manual_seed(2)
    net = _small(3, std=0.3).double().eval()
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


def _smooth_image(size: int = 160) -> torch.Tensor:
    """A smooth synthetic gray image (two sinusoids and a soft-edged disc) in [0.1, 0.9]."""
    u, v = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    img = 0.5 + 0.2 * torch.sin(2 * math.pi * (1.5 * u + 0.7 * v))
    img = img + 0.12 * torch.cos(2 * math.pi * (0.8 * u - 1.9 * v))
    img = img + 0.15 * torch.sigmoid(((u - 0.5) ** 2 + (v - 0.45) ** 2 - 0.07) * -200)
    return img[None, None]


def _crops(src: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    i = torch.randint(0, src.shape[-2] - 31, (n,), generator=g).tolist()
    j = torch.randint(0, src.shape[-1] - 31, (n,), generator=g).tolist()
    return torch.cat([src[..., a : a + 32, b : b + 32] for a, b in zip(i, j, strict=True)])


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return (10 * torch.log10(1 / (a - b).pow(2).mean())).item()


@pytest.mark.slow
def test_short_training_learns_to_denoise_with_greedy_decoding():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    img = _smooth_image()
    train, held_out = img[..., :112, :], img[..., 112:, :]  # disjoint rows
    net = PixelCNN(1, width=24, n_layers=3, kernel_size=3, cond_width=24, cond_layers=3)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    loss_fn = CategoricalNLL()
    sigma = 25 / 255
    start = time.perf_counter()
    losses = []
    for _ in range(250):
        x = _crops(train, 8, g)
        y = x + sigma * torch.randn(x.shape, generator=g)
        pred, aux = net(y, target=x)
        loss = loss_fn(pred, x, **aux)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    train_s = time.perf_counter() - start
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 1.5  # from ~log(256) = 5.5 nats

    net.eval()
    x = _crops(held_out, 2, g)
    y = x + sigma * torch.randn(x.shape, generator=g)
    restored = net(y)  # greedy autoregressive decoding
    assert restored.shape == x.shape
    noisy_psnr, greedy_psnr = _psnr(y, x), _psnr(restored, x)
    print(f"train {train_s:.1f}s: noisy {noisy_psnr:.2f} dB -> greedy {greedy_psnr:.2f} dB")
    assert greedy_psnr > noisy_psnr + 3
