"""Y-channel SR metrics: the protocol pieces, and the published bicubic numbers on Set5/Set14."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from restore.degradations.resize import imresize
from restore.metrics.sr import YPSNR, YSSIM, rgb_to_y, sr_eval_y, y_psnr, y_ssim


def _levels(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g).float() / 255


def test_rgb_to_y_matches_matlab_rgb2ycbcr():
    x = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.2, 0.5, 0.9]])
    y = rgb_to_y(x.view(4, 3, 1, 1)).flatten() * 255
    expected = [235.0, 16.0, 16 + 65.481, 16 + 65.481 * 0.2 + 128.553 * 0.5 + 24.966 * 0.9]
    torch.testing.assert_close(y, torch.tensor(expected), rtol=0, atol=1e-4)
    gray = torch.rand(2, 1, 5, 5)
    assert rgb_to_y(gray) is gray
    with pytest.raises(ValueError, match="1 or 3 channels"):
        rgb_to_y(torch.rand(1, 2, 4, 4))


def test_border_crop_and_quantization():
    target = _levels(1, 3, 20, 20)
    pred = target.clone()
    pred[..., :2, :] = 1 - pred[..., :2, :]  # garbage only in the 2-pixel border
    pred[..., :, -2:] = 0.0
    pred += 0.4 / 255  # sub-level offset, removed by quantization
    assert torch.isinf(y_psnr(pred, target, scale=2)).all()
    assert y_ssim(pred, target, scale=2).item() == pytest.approx(1.0, abs=1e-6)
    assert math.isfinite(y_psnr(pred, target, scale=1).item())  # border now counted


def test_psnr_value_and_per_image_mean():
    target = _levels(2, 3, 24, 24)
    noise = torch.zeros_like(target)
    noise[0] = 4 / 255
    noise[1, :, ::2] = 16 / 255  # different error per image
    pred = (target + noise).clamp(0, 1)
    p, t = sr_eval_y(pred, target, scale=3)
    assert p.shape == (2, 1, 18, 18)
    mse = ((p - t) ** 2).mean(dim=(1, 2, 3))
    expected = 10 * torch.log10(1 / mse)
    per_image = y_psnr(pred, target, scale=3)
    torch.testing.assert_close(per_image, expected, rtol=1e-5, atol=1e-4)
    metric = YPSNR(scale=3)
    metric.update(pred[:1], target[:1])
    metric.update(pred[1:], target[1:])
    assert metric.compute().item() == pytest.approx(expected.mean().item(), abs=1e-4)
    # Per-image averaging differs from the PSNR of the pooled MSE.
    assert abs(expected.mean() - 10 * torch.log10(1 / mse.mean())) > 0.5


def test_gray_flag_scores_replicated_gray_as_gray():
    target = _levels(1, 1, 32, 32, seed=1)
    pred = target + 0.05 * torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    one_channel = y_psnr(pred, target, 2)
    rgb_pred, rgb_target = pred.expand(-1, 3, -1, -1), target.expand(-1, 3, -1, -1)
    flagged = y_psnr(rgb_pred, rgb_target, 2, gray=torch.tensor([True]))
    torch.testing.assert_close(flagged, one_channel)
    # Without the flag the replicated image goes through Y: range 219/255, +1.32 dB.
    unflagged = y_psnr(rgb_pred, rgb_target, 2)
    assert unflagged.item() - one_channel.item() == pytest.approx(
        20 * math.log10(255 / 219), abs=0.05
    )
    s_flag = YSSIM(2)
    s_flag.update(rgb_pred, rgb_target, gray=torch.tensor([True]))
    assert s_flag.compute().item() == pytest.approx(y_ssim(pred, target, 2).item(), abs=1e-6)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ"):
        y_psnr(torch.rand(1, 3, 10, 10), torch.rand(1, 3, 10, 12), 2)


# Published bicubic Y-PSNR / SSIM (SRCNN TPAMI 2016, VDSR CVPR 2016, EDSR CVPRW 2017 tables).
PUBLISHED = {
    ("Set5", 2): (33.66, 0.9299),
    ("Set5", 4): (28.42, 0.8104),
    ("Set14", 2): (30.24, 0.8688),
    ("Set14", 4): (26.00, 0.7027),
}


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "scale"), list(PUBLISHED))
def test_bicubic_baseline_matches_published(shared_datasets, dataset, scale):
    psnr, ssim = YPSNR(scale), YSSIM(scale)
    for hr_path in sorted((shared_datasets / dataset / f"image_SRF_{scale}").glob("*_HR.png")):
        lr_path = hr_path.with_name(hr_path.name.replace("_HR", "_LR"))
        hr, lr = (torch.from_numpy(np.array(Image.open(p))) for p in (hr_path, lr_path))
        hr, lr = ((a[None, None] if a.ndim == 2 else a.permute(2, 0, 1)[None]) for a in (hr, lr))
        up = imresize(lr.float() / 255, scale)
        psnr.update(up, hr.float() / 255)
        ssim.update(up, hr.float() / 255)
    got_psnr, got_ssim = psnr.compute().item(), ssim.compute().item()
    print(f"bicubic {dataset} x{scale}: Y-PSNR {got_psnr:.3f} dB, Y-SSIM {got_ssim:.4f}")
    want_psnr, want_ssim = PUBLISHED[(dataset, scale)]
    assert got_psnr == pytest.approx(want_psnr, abs=0.05)
    assert got_ssim == pytest.approx(want_ssim, abs=0.002)
