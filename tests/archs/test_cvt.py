"""Tests of the CvT restoration network (restore/archs/cvt.py)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from restore.archs.cvt import CvT, window_attention

# Small widths keep the tests fast; the structure (3 stages, windows, K/V stride) is the default.
SMALL = {"dims": (8, 16, 32), "depths": (1, 1, 1), "heads": (1, 2, 4)}

# (H, W, window_size): even, odd, and a case where every stage pads its maps to the window
# (36x20 -> stage maps 36x20, 18x10, 9x5, padded to 40x24, 24x16, 16x8 tokens).
SIZES = [(32, 32, 16), (33, 27, 16), (36, 20, 8)]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return -10 * math.log10(F.mse_loss(a, b).item())


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "color"])
@pytest.mark.parametrize(("h", "w", "window"), SIZES, ids=["32x32", "33x27", "36x20-pad"])
def test_shape_and_gradients(channels: int, h: int, w: int, window: int) -> None:
    torch.manual_seed(0)
    model = CvT(channels, channels, window_size=window, **SMALL)
    x = torch.rand(2, channels, h, w)
    y = model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name
    model.eval()
    with torch.no_grad():
        assert model(x).shape == x.shape


def test_out_channels_differ() -> None:
    model = CvT(1, 3, window_size=8, **SMALL)
    assert model(torch.rand(1, 1, 20, 12)).shape == (1, 3, 20, 12)


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "color"])
@pytest.mark.parametrize(("h", "w"), [(32, 32), (33, 27)])
def test_big_window_equals_global_attention(channels: int, h: int, w: int) -> None:
    torch.manual_seed(0)
    glob = CvT(channels, channels, window_size=None, **SMALL)
    # PyTorch's default init instead of CvT's small one, so that attention changes the output
    # by O(1) and the tolerance below is tight relative to it.
    for m in glob.modules():
        if isinstance(m, nn.Linear | nn.Conv2d):
            m.reset_parameters()
    # 64 >= every stage map: one (masked, padded) window per map, i.e. global attention.
    win = CvT(channels, channels, window_size=64, **SMALL)
    win.load_state_dict(glob.state_dict())
    small = CvT(channels, channels, window_size=8, **SMALL)
    small.load_state_dict(glob.state_dict())
    x = torch.rand(2, channels, h, w)
    for mode in ("train", "eval"):
        for m in (glob, win, small):
            m.train(mode == "train")
        with torch.no_grad():
            ref = glob(x)
            torch.testing.assert_close(win(x), ref, atol=1e-5, rtol=0)
            # Smaller windows really are local: the output changes.
            assert (small(x) - ref).abs().max() > 1e-2


@pytest.mark.parametrize(("h", "w", "window", "stride"), [(13, 10, 4, 2), (16, 8, 4, 1)])
def test_window_attention_matches_per_window_reference(
    h: int, w: int, window: int, stride: int
) -> None:
    """Masked, padded windowed attention == plain softmax attention inside each window."""
    torch.manual_seed(0)
    b, c, heads = 2, 8, 2
    hk, wk = math.ceil(h / stride), math.ceil(w / stride)
    q, k, v = torch.randn(b, h, w, c), torch.randn(b, hk, wk, c), torch.randn(b, hk, wk, c)
    out = window_attention(q, k, v, heads, window, stride)
    d = c // heads
    kw = window // stride
    ref = torch.empty_like(q)
    for i in range(0, h, window):
        for j in range(0, w, window):
            qi = q[:, i : i + window, j : j + window]
            ki = k[:, i // stride : i // stride + kw, j // stride : j // stride + kw]
            vi = v[:, i // stride : i // stride + kw, j // stride : j // stride + kw]
            qs = qi.reshape(b, -1, heads, d).transpose(1, 2)
            ks = ki.reshape(b, -1, heads, d).transpose(1, 2)
            vs = vi.reshape(b, -1, heads, d).transpose(1, 2)
            att = torch.softmax(qs @ ks.transpose(-1, -2) / math.sqrt(d), dim=-1) @ vs
            ref[:, i : i + window, j : j + window] = att.transpose(1, 2).reshape(qi.shape)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_invalid_window_rejected() -> None:
    with pytest.raises(ValueError, match="multiple of kv_stride"):
        CvT(1, 1, window_size=15, kv_stride=2, **SMALL)


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "color"])
def test_overfits_one_noisy_batch(channels: int) -> None:
    """A few dozen Adam steps on one batch denoise it clearly beyond the noisy input."""
    torch.manual_seed(0)
    h = w = 32
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    phases = torch.arange(channels).view(1, channels, 1, 1).float()
    clean = 0.5 + 0.3 * torch.sin(2 * math.pi * (xx + 0.5 * yy) + phases) * torch.cos(math.pi * yy)
    clean = clean.expand(2, channels, h, w).contiguous()
    noisy = clean + 0.1 * torch.randn_like(clean)
    model = CvT(channels, channels, window_size=16, **SMALL)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(50):
        opt.zero_grad()
        loss = F.mse_loss(model(noisy), clean)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        restored = model(noisy)
    psnr_in, psnr_out = _psnr(noisy, clean), _psnr(restored, clean)
    assert psnr_out > psnr_in + 3, (psnr_in, psnr_out)
