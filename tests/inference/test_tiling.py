"""Tiled inference equals untiled inference for local networks, for any size and SR scale."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from restore.archs import EDSR, DnCNN
from restore.inference.tiling import axis_layout, axis_spans, axis_weights, tiled_apply


class Recorder(nn.Module):
    """Wraps a network and records the shape of every batch of tiles it is given."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.shapes = net, []

    def forward(self, x):
        self.shapes.append(tuple(x.shape))
        return self.net(x)


@pytest.fixture(scope="module")
def dncnn() -> nn.Module:
    """DnCNN with 17 layers of 3x3 convolutions: receptive field r = 35 (r // 2 = 17)."""
    torch.manual_seed(0)
    net = DnCNN(1, depth=17, width=8)
    for m in net.modules():  # non-trivial batch-norm statistics, so eval mode is not identity
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.rand(1, 1, 100, 117, generator=torch.Generator().manual_seed(1))


def untiled(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return net(x)


@pytest.mark.parametrize("overlap", [17, 18])
def test_dncnn_tiled_equals_untiled_when_overlap_covers_half_the_receptive_field(
    dncnn, image, overlap
):
    recorder = Recorder(dncnn)
    out = tiled_apply(recorder, image, tile=80, overlap=overlap)
    assert len(recorder.shapes) >= 4  # really tiled: inner borders along both axes
    assert len(set(recorder.shapes)) == 1  # one tile size, within the bound
    assert all(s[2] <= 80 and s[3] <= 80 for s in recorder.shapes)
    assert out.shape == image.shape and out.dtype == torch.float32
    assert (out - untiled(dncnn, image)).abs().max().item() < 1e-4


def test_plain_crop_scheme_is_exact_too(dncnn, image):
    recorder = Recorder(dncnn)
    out = tiled_apply(recorder, image, tile=60, overlap=17, blend=0)
    assert len(recorder.shapes) >= 4
    assert (out - untiled(dncnn, image)).abs().max().item() < 1e-5  # float32 rounding only


def test_crop_scheme_copies_each_pixel_from_one_tile():
    """With blend=0 every output pixel is one tile's value, never a mix: a function that tags
    each tile with a constant shows one tag per pixel, tiles meeting halfway through their
    common kept pixels."""
    x = torch.zeros(1, 1, 50, 200)
    tags = iter(range(1, 100))

    def tag(t):
        return torch.full_like(t, float(next(tags)))

    out = tiled_apply(tag, x, tile=64, overlap=10, blend=0)
    starts, _, spans = axis_spans(200, 64, 10)
    row = out[0, 0, 0]
    assert set(row.unique().tolist()) == set(range(1, len(starts) + 1))
    for k, (lo, hi) in enumerate(spans):
        assert (row[lo:hi] == k + 1).all()


@pytest.mark.parametrize(("n", "tile", "overlap", "scale"), [(200, 64, 10, 1), (4096, 1024, 17, 1),
    (37, 36, 9, 2), (513, 100, 30, 3)])  # fmt: skip
def test_axis_spans_partition_the_axis_away_from_inner_sides(n, tile, overlap, scale):
    starts, length, spans = axis_spans(n, tile, overlap, scale)
    assert length <= tile and starts[-1] + length == n
    assert spans[0][0] == 0 and spans[-1][1] == n * scale
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    for k, (s, (lo, hi)) in enumerate(zip(starts, spans, strict=True)):
        assert s * scale <= lo < hi <= (s + length) * scale
        if k > 0:
            assert lo >= (s + overlap) * scale
        if k < len(starts) - 1:
            assert hi <= (s + length - overlap) * scale


def test_too_small_overlap_is_not_exact(dncnn, image):
    """The comparison above can fail: tile borders inside the receptive field show."""
    out = tiled_apply(dncnn, image, tile=80, overlap=2)
    assert (out - untiled(dncnn, image)).abs().max().item() > 1e-3


def test_super_resolution_x2_with_odd_sizes_and_tile_batches():
    torch.manual_seed(0)
    net = EDSR(3, 3, scale=2, n_blocks=2, width=8).eval()  # input receptive radius < 9 pixels
    x = torch.rand(2, 3, 37, 53)
    recorder = Recorder(net)
    out = tiled_apply(recorder, x, tile=36, overlap=9, scale=2, batch=3)
    assert out.shape == (2, 3, 74, 106)
    assert (out - untiled(net, x)).abs().max().item() < 1e-4
    assert len(recorder.shapes) > 1
    assert all(s[0] <= 2 * 3 and max(s[2:]) <= 36 for s in recorder.shapes)


@pytest.mark.parametrize("tile", [117, 512, None])
def test_a_tile_covering_the_image_is_the_untiled_result(dncnn, image, tile):
    recorder = Recorder(dncnn)
    out = tiled_apply(recorder, image, tile=tile, overlap=32)
    assert recorder.shapes == [tuple(image.shape)]
    assert torch.equal(out, untiled(dncnn, image))


def test_one_axis_tiled_the_other_not(dncnn):
    x = torch.rand(1, 1, 40, 150)
    out = tiled_apply(dncnn, x, tile=80, overlap=18)
    assert (out - untiled(dncnn, x)).abs().max().item() < 1e-4


@pytest.mark.parametrize(
    ("n", "tile", "overlap", "blend", "scale"),
    [(150, 96, 18, 18, 1), (1000, 128, 16, 0, 1), (37, 36, 9, 9, 2), (513, 100, 10, 30, 3)],
)
def test_axis_weights_partition_unity_and_skip_inner_margins(n, tile, overlap, blend, scale):
    starts, weights = axis_weights(n, tile, overlap, blend, scale)
    length = len(weights[0])
    assert length <= tile * scale and starts[0] == 0 and starts[-1] * scale + length == n * scale
    total = torch.zeros(n * scale)
    for k, (s, w) in enumerate(zip(starts, weights, strict=True)):
        assert w.shape == (length,) and (w >= 0).all()
        total[s * scale : s * scale + length] += w
        margin = overlap * scale
        if k > 0 and margin:
            assert (w[:margin] == 0).all()
        if k < len(starts) - 1 and margin:
            assert (w[-margin:] == 0).all()
    torch.testing.assert_close(total, torch.ones(n * scale), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("n", "tile", "overlap", "blend", "expected"),
    [
        (600, 512, 32, 32, ([0, 252], 348)),  # two tiles needed: shrunk from 512 to 348
        (4096, 512, 32, 32, (10, 496)),  # 10 tiles of 496 rather than 10 of 512
        (512, 512, 32, 32, ([0], 512)),
        (100, 80, 18, 18, ([0, 23], 77)),
    ],
)
def test_axis_layout_uses_as_few_and_as_small_tiles_as_possible(n, tile, overlap, blend, expected):
    starts, length = axis_layout(n, tile, overlap, blend)
    want_starts, want_length = expected
    assert length == want_length
    assert (len(starts) if isinstance(want_starts, int) else starts) == want_starts
    steps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(0 < step <= length - 2 * overlap - blend for step in steps)


def test_blending_smooths_seams_of_a_non_local_function():
    """A per-tile mean is discontinuous at tile borders without blending, smooth with it."""
    x = torch.linspace(0, 1, 300).view(1, 1, 1, 300).expand(1, 1, 40, 300).contiguous()

    def tile_mean(t):
        return t.mean(dim=(2, 3), keepdim=True).expand_as(t)

    def max_step(out):
        return (out[..., 1:] - out[..., :-1]).abs().max().item()

    hard = tiled_apply(tile_mean, x, tile=80, overlap=8, blend=0)
    soft = tiled_apply(tile_mean, x, tile=80, overlap=8, blend=24)
    assert max_step(hard) > 0.1
    assert max_step(soft) < max_step(hard) / 5


def test_invalid_settings_are_refused(dncnn, image):
    with pytest.raises(ValueError, match="tile"):
        tiled_apply(dncnn, image, tile=64, overlap=32)
    with pytest.raises(ValueError, match="scale=2"):
        tiled_apply(dncnn, image, tile=80, overlap=8, scale=2)  # DnCNN does not up-sample
