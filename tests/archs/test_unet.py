"""U-Net and the padding helpers of restore.archs.utils."""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torchmetrics.functional.image import peak_signal_noise_ratio as psnr

from restore.archs.unet import UNet
from restore.archs.utils import crop_to, group_norm, pad_to_multiple

CONF = Path(__file__).resolve().parents[2] / "conf" / "model"


def smooth_image(channels: int, h: int, w: int) -> torch.Tensor:
    """A smooth (1, C, H, W) image in [0.1, 0.9]: crossed sinusoids, one phase per channel."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    chans = [
        0.5
        + 0.2 * torch.sin(2 * math.pi * (1.5 * xx + c / 3)) * torch.cos(2 * math.pi * yy)
        + 0.2 * torch.cos(2 * math.pi * (xx + 2 * yy + c / 5))
        for c in range(channels)
    ]
    return torch.stack(chans)[None]


def fit(model, x, target, steps: int, lr: float) -> tuple[float, float]:
    """Adam on one fixed batch with an MSE loss; PSNR of the output at the first step and after."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    first = None
    for _ in range(steps):
        out = model(x)
        if first is None:
            first = psnr(out.detach(), target, data_range=1.0).item()
        loss = F.mse_loss(out, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        last = psnr(model(x), target, data_range=1.0).item()
    return first, last


def test_pad_to_multiple_reflects_bottom_right_and_crops_back():
    x = torch.arange(35.0).view(1, 1, 5, 7)
    xp, size = pad_to_multiple(x, 4)
    assert xp.shape == (1, 1, 8, 8) and size == (5, 7)
    assert torch.equal(xp[..., :5, :7], x)  # padding only on the bottom/right
    assert torch.equal(xp[..., 5, :7], x[..., 3, :])  # reflect: row 5 mirrors row 3
    assert torch.equal(xp[..., :5, 7], x[..., :, 5])
    assert torch.equal(crop_to(xp, size), x)


def test_pad_to_multiple_falls_back_to_replicate_and_noop():
    x = torch.rand(2, 3, 3, 9)
    xp, size = pad_to_multiple(x, 8)  # needs 5 rows of padding on a 3-row image
    assert xp.shape == (2, 3, 8, 16) and size == (3, 9)
    assert torch.equal(xp[..., 7, :9], x[..., 2, :])  # replicated last row
    assert torch.equal(xp[..., :3, 15], x[..., :, 8])
    same, size = pad_to_multiple(torch.rand(1, 1, 16, 8), 8)
    assert same.shape == (1, 1, 16, 8) and size == (16, 8)
    with pytest.raises(ValueError):
        crop_to(x, (4, 9))


def test_group_norm_keeps_groups_of_several_channels():
    assert group_norm(8).num_groups == 2
    assert group_norm(256).num_groups == 32
    assert group_norm(3).num_groups == 1


@pytest.mark.parametrize(
    ("norm", "upsample"),
    [("batch", "transpose"), ("instance", "bilinear"), ("group", "nearest"), (None, "transpose")],
)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(32, 32), (33, 27)])
def test_unet_shape_and_gradients(norm, upsample, channels, size):
    torch.manual_seed(0)
    model = UNet(channels, channels, depth=3, width=8, norm=norm, upsample=upsample)
    x = torch.rand(2, channels, *size)
    out = model(x)
    assert out.shape == x.shape
    F.mse_loss(out, torch.rand_like(out)).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_unet_residual_and_channel_change():
    torch.manual_seed(0)
    model = UNet(3, 3, depth=2, width=8).eval()
    torch.nn.init.zeros_(model.outc.weight)
    torch.nn.init.zeros_(model.outc.bias)
    x = torch.rand(1, 3, 20, 13)
    assert torch.equal(model(x), x)  # a zero residual branch returns the input
    model.residual = False
    assert torch.equal(model(x), torch.zeros_like(x))
    mapped = UNet(1, 3, depth=2, width=8, residual=True)
    assert not mapped.residual  # no global residual across a channel change
    assert mapped(torch.rand(2, 1, 17, 17)).shape == (2, 3, 17, 17)
    with pytest.raises(ValueError):
        UNet(3, 3, norm="layer")


@pytest.mark.parametrize("channels", [1, 3])
def test_unet_learns_to_denoise_one_batch(channels):
    torch.manual_seed(0)
    clean = smooth_image(channels, 32, 32).repeat(2, 1, 1, 1)
    noisy = clean + 0.1 * torch.randn_like(clean)
    model = UNet(channels, channels, depth=2, width=8)
    first, last = fit(model, noisy, clean, steps=60, lr=2e-3)
    # Measured (seed 0): 19.2 -> 39.3 dB gray, 19.3 -> 26.9 dB color; the noisy input is at 20 dB.
    assert last > first + 5.0, (first, last)
    assert last > psnr(noisy, clean, data_range=1.0).item() + 3.0, last  # better than the input


@pytest.mark.parametrize("channels", [1, 3])
def test_unet_yaml_instantiates(channels):
    cfg = OmegaConf.create(
        {"model": OmegaConf.load(CONF / "unet.yaml"), "data": {"channels": channels}}
    )
    model = instantiate(cfg.model)
    assert isinstance(model, UNet) and model.depth == 4 and model.residual
    assert model.inc[0].in_channels == channels and model.outc.out_channels == channels
    assert model.inc[0].out_channels == 32
    assert isinstance(model.inc[1], torch.nn.BatchNorm2d)
    assert isinstance(model.up[0], torch.nn.ConvTranspose2d)
