"""The x8 geometric self-ensemble: each transform is undone, and the 8 results are averaged."""

from __future__ import annotations

import pytest
import torch

from restore.archs import DnCNN
from restore.degradations import GaussianNoise
from restore.inference import self_ensemble
from restore.losses import LossSum
from restore.tasks import DenoisingTask


@pytest.mark.parametrize("shape", [(1, 1, 4, 4), (2, 3, 3, 5)])
def test_each_transform_is_undone(shape):
    x = torch.rand(shape)
    assert torch.allclose(self_ensemble(lambda t: t, x), x)
    assert torch.allclose(self_ensemble(lambda t: 2 * t + 1, x), 2 * x + 1)


def test_output_is_the_mean_over_the_eight_transforms():
    def mark_top_left(t):  # not equivariant: marks wherever the transformed top-left lies
        t = t.clone()
        t[..., 0, 0] = 1.0
        return t

    out = self_ensemble(mark_top_left, torch.zeros(1, 1, 3, 5))
    # each of the 8 transforms brings a different corner to the top-left: 2 of 8 per corner
    corners = out[0, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert torch.allclose(corners, torch.full((4,), 0.25))
    assert out.sum() == pytest.approx(1.0)


def test_task_restore_uses_the_ensemble_when_asked():
    torch.manual_seed(0)
    net = DnCNN(1, depth=3, width=8)
    loss = LossSum({"mse": torch.nn.MSELoss()})
    task = DenoisingTask(net, loss, GaussianNoise(25), self_ensemble=True).eval()
    x = torch.rand(1, 1, 12, 10)
    with torch.no_grad():
        rotated = [torch.rot90(x, k, (-2, -1)) for k in range(4)]
        outs = [torch.rot90(net(r), -k, (-2, -1)) for k, r in enumerate(rotated)]
        outs += [torch.rot90(net(r.flip(-1)).flip(-1), -k, (-2, -1)) for k, r in enumerate(rotated)]
        assert torch.allclose(task.restore(x), torch.stack(outs).mean(0), atol=1e-5)
        assert not torch.allclose(task.restore(x), net(x), atol=1e-3), "the net is not equivariant"
        task.self_ensemble = False
        assert torch.allclose(task.restore(x), net(x), atol=1e-6)
