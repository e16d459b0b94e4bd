"""Blur, Poisson noise, composition and inpainting masks: known answers and reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from kornia.filters import get_gaussian_kernel2d
from PIL import Image

from restore.degradations import (
    BoxMask,
    Compose,
    FileMask,
    GaussianBlur,
    GaussianNoise,
    MotionBlur,
    PoissonNoise,
    RandomPixelMask,
    SeededNoise,
    StrokeMask,
    TextMask,
    TorchNoise,
)
from restore.degradations.compose import poisson_inverse_cdf

# ------------------------------------------------------------------------------------ blur


def test_motion_kernels_sum_to_one_and_follow_the_seed():
    blur = MotionBlur(length_range=(3, 21), direction_range=(-1, 1))
    like = torch.zeros(6, 3, 32, 32)
    k1 = blur.kernels(like, SeededNoise(range(6)))
    assert k1.shape[0] == 6 and k1.shape[-1] % 2 == 1
    torch.testing.assert_close(k1.sum(dim=(1, 2)), torch.ones(6))
    assert (k1 >= 0).all()
    # same seeds, same kernels; a different seed, a different kernel
    torch.testing.assert_close(k1, blur.kernels(like, SeededNoise(range(6))), rtol=0, atol=0)
    assert not torch.equal(k1, blur.kernels(like, SeededNoise(range(1, 7))))
    # an image's kernel depends on its seed only, not on the rest of the batch
    alone = blur.kernels(like[:1], SeededNoise([3]))[0]
    pad = (k1.shape[-1] - alone.shape[-1]) // 2
    inner = k1[3, pad : k1.shape[-1] - pad, pad : k1.shape[-1] - pad]
    torch.testing.assert_close(inner, alone, rtol=0, atol=0)
    # training draws are random: two batches differ
    assert not torch.equal(blur.kernels(like, TorchNoise()), blur.kernels(like, TorchNoise()))


def test_motion_kernel_lengths_are_odd_and_within_range():
    blur = MotionBlur(length_range=(5, 9), angle_range=(0, 0))
    k = blur.kernels(torch.zeros(64, 1, 8, 8), SeededNoise(range(64)))
    # at angle 0 a kernel is one horizontal line: its length is the number of non-zero taps
    lengths = {int((row > 0).sum()) for row in k.amax(dim=1)}
    assert lengths == {5, 7, 9}


def test_motion_blur_of_a_point_is_the_flipped_kernel():
    blur = MotionBlur(length_range=(9, 9), quantize=False)
    x = torch.zeros(1, 1, 31, 31)
    x[..., 15, 15] = 1.0
    y = blur(x, SeededNoise([7]))
    k = blur.kernels(x, SeededNoise([7]))[0]
    # filter2d correlates: a unit impulse comes out as the kernel rotated by 180 degrees
    torch.testing.assert_close(y[0, 0, 11:20, 11:20], k.flip(0, 1), atol=1e-6, rtol=0)
    assert y.sum().item() == pytest.approx(1.0, abs=1e-5)


def test_gaussian_blur_matches_kornia_kernel_and_draws_sigma_per_image():
    x = torch.zeros(1, 1, 25, 25)
    x[..., 12, 12] = 1.0
    y = GaussianBlur(sigma=2.0, quantize=False)(x)
    k = get_gaussian_kernel2d((13, 13), (2.0, 2.0))[0]  # 2 * ceil(3 * 2) + 1 = 13
    torch.testing.assert_close(y[0, 0, 6:19, 6:19], k, atol=1e-6, rtol=0)
    blind = GaussianBlur(sigma=None, sigma_range=(0.5, 3.0))
    s1 = blind.sigmas(torch.zeros(4, 1, 8, 8), SeededNoise([0, 1, 2, 3]))
    expected = [np.random.RandomState(s).uniform(0.5, 3.0) for s in range(4)]
    torch.testing.assert_close(s1, torch.tensor(expected, dtype=torch.float32))


def test_blur_quantizes_to_8_bits_by_default():
    x = torch.rand(2, 3, 24, 24)
    for blur in (MotionBlur(), GaussianBlur(sigma=1.0)):
        y = blur(x, SeededNoise([0, 1]))
        torch.testing.assert_close(y * 255, (y * 255).round(), atol=1e-4, rtol=0)


def test_blur_rejects_bad_settings():
    with pytest.raises(ValueError, match="odd"):
        MotionBlur(length_range=(4, 9))
    with pytest.raises(ValueError, match="too large"):
        MotionBlur(length_range=(21, 21))(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="exactly one"):
        GaussianBlur(sigma=1.0, sigma_range=(1, 2))


# --------------------------------------------------------------------- Poisson, composition


def test_poisson_inverse_cdf_has_poisson_moments():
    torch.manual_seed(0)
    rate = torch.tensor([0.0, 0.7, 4.0, 50.0, 900.0]).repeat(40000, 1)
    samples = poisson_inverse_cdf(rate, torch.rand(rate.shape, dtype=torch.float64))
    assert torch.equal(samples, samples.round()) and (samples[:, 0] == 0).all()
    mean, var = samples.mean(0), samples.var(0)
    for i, lam in enumerate([0.7, 4.0, 50.0, 900.0], start=1):
        se = math.sqrt(lam / 40000)
        assert abs(mean[i] - lam) < 5 * se, (lam, mean[i])
        assert var[i] / lam == pytest.approx(1.0, abs=0.05)


def test_poisson_inverse_cdf_on_known_quantiles():
    # rate 1: CDF(0) = 1/e = 0.3679, CDF(1) = 2/e = 0.7358, CDF(2) = 2.5/e = 0.9197
    u = torch.tensor([0.0, 0.36, 0.37, 0.73, 0.74, 0.91, 0.93])
    samples = poisson_inverse_cdf(torch.ones(7), u)
    assert samples.tolist() == [0, 0, 1, 1, 2, 2, 3]


@pytest.mark.parametrize("source", ["torch", "seeded"])
def test_poisson_noise_mean_and_variance(source):
    peak = 20.0
    x = torch.full((2, 1, 128, 128), 0.3)
    src = TorchNoise() if source == "torch" else SeededNoise([0, 1])
    y = PoissonNoise(peak=peak)(x, src)
    counts = y * peak
    torch.testing.assert_close(counts, counts.round(), atol=1e-4, rtol=0)
    assert y.mean().item() == pytest.approx(0.3, abs=0.01)
    assert y.var().item() == pytest.approx(0.3 / peak, rel=0.05)


def test_poisson_noise_is_reproducible_per_seed():
    noise = PoissonNoise(peak=None, peak_range=(1, 60))
    x = torch.rand(3, 3, 16, 16)
    a = noise(x, SeededNoise([5, 6, 7]))
    assert torch.equal(a, noise(x, SeededNoise([5, 6, 7])))
    assert torch.equal(a[1:2], noise(x[1:2], SeededNoise([6])))


def test_compose_applies_stages_in_order_from_one_stream():
    blur, noise = MotionBlur(), GaussianNoise(sigma=10.0)
    x = torch.rand(2, 3, 32, 32)
    y = Compose([blur, noise])(x, SeededNoise([1, 2]))
    src = SeededNoise([1, 2])
    expected = noise(blur(x, src), src)
    assert torch.equal(y, expected)
    with pytest.raises(ValueError, match="empty"):
        Compose([])


# ---------------------------------------------------------------------------------- masks

MASKS = {
    "random": RandomPixelMask(missing=0.3),
    "boxes": BoxMask(boxes=2, size_range=(0.2, 0.4)),
    "strokes": StrokeMask(),
    "text": TextMask(),
}


@pytest.mark.parametrize("name", sorted(MASKS))
def test_masks_are_binary_reproducible_and_hide_pixels(name):
    mask_op = MASKS[name]
    x = torch.rand(3, 3, 64, 48)
    m = mask_op.draw_mask(x, SeededNoise([0, 1, 2]))
    assert m.shape == (3, 1, 64, 48)
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    holes = 1 - m.mean(dim=(1, 2, 3))
    assert (holes > 0.005).all() and (holes < 0.9).all(), holes
    assert torch.equal(m, mask_op.draw_mask(x, SeededNoise([0, 1, 2])))
    assert torch.equal(m[2:], mask_op.draw_mask(x[2:], SeededNoise([2])))  # per image
    assert not torch.equal(m, mask_op.draw_mask(x, SeededNoise([3, 4, 5])))
    y = mask_op(x, SeededNoise([0, 1, 2]))
    assert torch.equal(y, x * m)  # holes are filled with 0


def test_random_pixel_mask_hides_the_missing_ratio():
    m = RandomPixelMask(missing=0.7).draw_mask(torch.zeros(4, 3, 100, 100), TorchNoise())
    assert 1 - m.mean().item() == pytest.approx(0.7, abs=0.01)


def test_box_mask_holes_are_rectangles_of_the_drawn_size():
    m = BoxMask(boxes=1, size_range=(0.25, 0.5)).draw_mask(
        torch.zeros(8, 1, 40, 60), SeededNoise(range(8))
    )
    for hole in 1 - m[:, 0]:
        rows = hole.any(dim=1).nonzero().flatten()
        cols = hole.any(dim=0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert hole.sum() == h * w  # the hole fills its bounding box
        assert 10 <= h <= 20 and 15 <= w <= 30
        assert rows[-1] - rows[0] + 1 == h and cols[-1] - cols[0] + 1 == w


def test_stroke_mask_paints_round_capped_segments():
    # one stroke, one move: the hole is a capsule of the drawn width around the segment
    op = StrokeMask(strokes=(1, 1), vertices=(1, 1), width_range=(0.2, 0.2), max_length=0.3)
    m = op.draw_mask(torch.zeros(1, 1, 50, 50), SeededNoise([3]))
    hole = 1 - m[0, 0]
    area = hole.sum().item()
    radius = 0.2 * 50 / 2
    # between the disc alone (zero length) and the disc plus the longest rectangle
    assert math.pi * radius**2 * 0.8 <= area <= math.pi * radius**2 + 2 * radius * 0.3 * 70.8


def test_file_mask_is_resized_with_nearest_neighbours(tmp_path):
    pattern = np.array([[255, 0], [0, 255]], dtype=np.uint8)
    Image.fromarray(pattern).save(tmp_path / "a.png")
    m = FileMask(str(tmp_path / "a.png")).draw_mask(torch.zeros(1, 3, 4, 6), TorchNoise())
    expected = torch.tensor([[1, 1, 1, 0, 0, 0]] * 2 + [[0, 0, 0, 1, 1, 1]] * 2).float()
    assert torch.equal(m[0, 0], expected)
    inverted = FileMask(str(tmp_path / "a.png"), invert=True)
    m_inv = inverted.draw_mask(torch.zeros(1, 1, 4, 6), TorchNoise())
    assert torch.equal(m_inv[0, 0], 1 - expected)
    # a folder: one mask picked per image, reproducibly
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "b.png")
    folder = FileMask(str(tmp_path))
    picks = folder.draw_mask(torch.zeros(16, 1, 4, 6), SeededNoise(range(16)))
    assert {float(p.mean()) for p in picks} == {0.5, 0.0}
    assert torch.equal(picks, folder.draw_mask(torch.zeros(16, 1, 4, 6), SeededNoise(range(16))))


def test_file_mask_missing_path_is_a_clear_error(tmp_path):
    from restore.utils.errors import DataError

    with pytest.raises(DataError, match="does not exist"):
        FileMask(str(tmp_path / "nope.png")).draw_mask(torch.zeros(1, 1, 4, 4), TorchNoise())
