"""MATLAB-compatible imresize: synthetic properties and bit-exactness on the Set5/Set14 LR files."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from restore.degradations.resize import BicubicDownsample, imresize, quantize


def _tensor(path: Path) -> torch.Tensor:
    a = torch.from_numpy(np.array(Image.open(path)))
    return a[None, None] if a.ndim == 2 else a.permute(2, 0, 1)[None]


# ---------------------------------------------------------------- synthetic properties


def test_output_size_follows_matlab_ceil():
    x = torch.rand(2, 3, 255, 256)
    assert imresize(x, 1 / 3).shape == (2, 3, 85, 86)  # 255/3 exactly 85 despite 1/3 rounding
    assert imresize(x, 0.5).shape == (2, 3, 128, 128)
    assert imresize(x, 2).shape == (2, 3, 510, 512)
    assert imresize(x, size=(100, 40)).shape == (2, 3, 100, 40)


@pytest.mark.parametrize("kernel", ["cubic", "linear", "box", "lanczos2", "lanczos3"])
@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.5, 2.0, 3.0])
def test_constant_image_stays_constant(kernel, scale):
    x = torch.full((1, 1, 21, 18), 0.37, dtype=torch.float64)
    y = imresize(x, scale, kernel=kernel)
    torch.testing.assert_close(y, torch.full_like(y, 0.37), rtol=0, atol=1e-12)


def test_cubic_reproduces_quadratics_unlike_torch_bicubic():
    # Keys' cubic with a = -0.5 (MATLAB) is exact on polynomials of degree <= 2; torch's
    # a = -0.75 is not, which is one reason torch's bicubic cannot stand in for MATLAB's.
    n, s = 16, 2
    i = torch.arange(n, dtype=torch.float64)
    x = (0.3 * i**2 - 2 * i + 1).view(1, 1, 1, n).expand(1, 1, 4, n)
    y = imresize(x, s)[0, 0, 0]
    u = (torch.arange(n * s, dtype=torch.float64) + 0.5) / s - 0.5  # 0-based input coordinates
    expected = 0.3 * u**2 - 2 * u + 1
    inner = slice(2 * s, -2 * s)  # away from the replicated border
    torch.testing.assert_close(y[inner], expected[inner], rtol=0, atol=1e-10)
    t = F.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False)[0, 0, 0]
    assert (t[inner] - expected[inner]).abs().max() > 1e-3


def test_downscale_weights_are_antialiased_and_replicate_edges():
    # A single bright column in the middle of a 1D signal spreads over ~ 4/scale input pixels.
    x = torch.zeros(1, 1, 1, 32, dtype=torch.float64)
    x[..., 16] = 1.0
    y = imresize(x, size=(1, 8))[0, 0, 0]
    assert torch.count_nonzero(y.abs() > 1e-12) >= 4  # without antialiasing: 2 taps
    assert torch.count_nonzero(imresize(x, size=(1, 8), antialiasing=False)[0, 0, 0]) <= 2
    # First output of a x1/2 resize: u = 1.5, taps -3..6 (1-based) with weights
    # 0.5 * cubic(0.5 * (u - i)); the edge pixel gets the taps <= 1 when replicating
    # (0 - 0.01171875 - 0.03515625 + 0.11328125 + 0.43359375 = 0.5) and taps 0 and 1 when
    # mirroring (0.11328125 + 0.43359375 = 0.546875).
    e = torch.zeros(1, 1, 1, 12, dtype=torch.float64)
    e[..., 0] = 1.0
    assert imresize(e, 0.5)[0, 0, 0, 0].item() == pytest.approx(0.5, abs=1e-12)
    sym = imresize(e, 0.5, boundary="symmetric")[0, 0, 0, 0].item()
    assert sym == pytest.approx(0.546875, abs=1e-12)


def test_batched_shapes_dtypes_and_devices():
    x = torch.rand(3, 2, 17, 23)
    y = imresize(x, 0.5)
    for b in range(3):
        torch.testing.assert_close(y[b : b + 1], imresize(x[b : b + 1], 0.5))
    torch.testing.assert_close(imresize(x[0], 0.5), y[0])  # (C, H, W)
    torch.testing.assert_close(imresize(x[0, 0], 0.5), y[0, 0])  # (H, W)
    assert y.dtype == torch.float32
    assert imresize(x.double(), 0.5).dtype == torch.float64
    u8 = (x * 255).round().to(torch.uint8)
    assert imresize(u8, 0.5).dtype == torch.uint8
    if torch.cuda.is_available():
        torch.testing.assert_close(imresize(x.cuda(), 0.5).cpu(), y, rtol=1e-5, atol=1e-5)


def test_uint8_and_emulated_uint8_paths_agree():
    x = torch.randint(0, 256, (2, 3, 30, 27), dtype=torch.uint8)
    a = imresize(x, 1 / 3)
    b = imresize(x.float() / 255, 1 / 3, emulate_uint8=True)
    assert torch.equal(a, torch.round(b * 255).to(torch.uint8))
    # The plain float path is the unrounded map: within one level of the rounded passes.
    c = imresize(x.double() / 255, 1 / 3).clamp(0, 1) * 255
    assert (c - a.double()).abs().max() < 2


def test_bicubic_degradation_operator_and_observation():
    degradation = BicubicDownsample(2)
    x = torch.rand(1, 1, 8, 10, dtype=torch.float64, requires_grad=True)
    obs = degradation.observe(x.detach())
    assert obs.scale == 2 and obs.input.shape == (1, 1, 4, 5)
    torch.testing.assert_close(obs.operator(x), imresize(x, 0.5))
    assert torch.autograd.gradcheck(obs.operator, (x,))
    x2 = torch.rand(1, 3, 12, 12)
    # evaluation always rounds each pass as MATLAB on uint8 (the benchmark LR files)
    emulated = BicubicDownsample(3, quantize=False).eval()(x2)
    assert torch.equal(emulated, imresize(x2, 1 / 3, emulate_uint8=True))
    assert torch.equal(emulated, quantize(emulated))
    # training without `quantize` keeps the float downscale
    plain = BicubicDownsample(3, quantize=False).train()(x2)
    torch.testing.assert_close(plain, imresize(x2, 1 / 3))
    with pytest.raises(ValueError, match=r"multiple of noise\.scale=3"):
        BicubicDownsample(3)(torch.rand(1, 1, 10, 12))


def test_quantize_rounds_half_up_and_clips():
    x = torch.tensor([-0.2, 0.5 / 255, 1.49 / 255, 127.5 / 255, 1.3])
    expected = torch.tensor([0, 1, 1, 128, 255]) / 255
    torch.testing.assert_close(quantize(x), expected)


def test_invalid_arguments():
    x = torch.rand(1, 1, 8, 8)
    with pytest.raises(ValueError, match="exactly one"):
        imresize(x, 0.5, size=(4, 4))
    with pytest.raises(ValueError, match="exactly one"):
        imresize(x)
    with pytest.raises(ValueError, match="unknown kernel"):
        imresize(x, 0.5, kernel="spline")
    with pytest.raises(ValueError, match="positive"):
        imresize(x, -2)
    with pytest.raises(ValueError, match="boundary"):
        imresize(x, 0.5, boundary="circular")
    with pytest.raises(TypeError):
        imresize(x.long(), 0.5)


# ---------------------------------------------------------------- real benchmark files


@pytest.mark.shared
@pytest.mark.parametrize("dataset", ["Set5", "Set14"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_reproduces_benchmark_lr_files(shared_datasets, dataset, scale):
    """imresize(HR, 1/s) equals the SelfExSR LR files (made with MATLAB on uint8) bit for bit."""
    hr_files = sorted((shared_datasets / dataset / f"image_SRF_{scale}").glob("*_HR.png"))
    assert len(hr_files) == {"Set5": 5, "Set14": 14}[dataset]
    equal_float = within_one = total = 0
    for hr_path in hr_files:
        hr = _tensor(hr_path)
        lr = _tensor(hr_path.with_name(hr_path.name.replace("_HR", "_LR")))
        # MATLAB semantics on uint8 (rounded passes), given uint8 or float in [0, 1]: exact.
        assert torch.equal(imresize(hr, 1 / scale), lr), hr_path.name
        emulated = imresize(hr.float() / 255, 1 / scale, emulate_uint8=True)
        assert torch.equal(torch.round(emulated * 255).to(torch.uint8), lr), hr_path.name
        # Plain float path (no intermediate rounding/clipping): close but not identical.
        plain = (quantize(imresize(hr.float() / 255, 1 / scale)) * 255).round().to(torch.uint8)
        diff = (plain.int() - lr.int()).abs()
        assert (diff <= 1).float().mean() > 0.98, hr_path.name  # > 1 only where MATLAB clips
        equal_float += (diff == 0).sum().item()
        within_one += (diff <= 1).sum().item()
        total += diff.numel()
    print(
        f"{dataset} x{scale}: uint8 path 100% equal; plain float path "
        f"{equal_float / total:.4f} equal, {within_one / total:.5f} within 1"
    )
    assert equal_float / total > 0.8
    assert within_one / total > 0.998


@pytest.mark.shared
def test_symmetric_boundary_misses_benchmark_borders(shared_datasets):
    """The mirrored boundary of common Python ports differs from the files on the borders only."""
    hr_path = shared_datasets / "Set5" / "image_SRF_2" / "img_001_SRF_2_HR.png"
    hr = _tensor(hr_path)
    lr = _tensor(hr_path.with_name("img_001_SRF_2_LR.png"))
    sym = imresize(hr, 0.5, boundary="symmetric")
    assert torch.equal(sym[..., 2:-2, 2:-2], lr[..., 2:-2, 2:-2])
    assert not torch.equal(sym, lr)
