"""``task.compile=true``: the task runs ``torch.compile``'s wrapper of its network in training,
validation and inference, with the network's own results."""

from __future__ import annotations

import functools

import torch
from torch import nn

from restore.archs.unet import UNet
from restore.data.batch import Batch
from restore.degradations import GaussianNoise
from restore.losses import LossSum
from restore.tasks import DenoisingTask


def test_compiled_task_trains_validates_and_restores_like_its_network(monkeypatch):
    # dynamo's eager backend: the compiled wrapper as the task sees it, without a C++ build
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    torch.manual_seed(0)
    net = UNet(1, 1, depth=2, width=4)  # an nn.Module without __len__, as most networks
    task = DenoisingTask(net, LossSum({"mse": nn.MSELoss()}), GaussianNoise(sigma=25), compile=True)
    task.setup("fit")
    assert task.network is not task.net  # the wrapper runs

    batch = task.observe(Batch(target=torch.rand(2, 1, 16, 16)), training=True)
    pred, _ = task._train_forward(batch)
    assert torch.allclose(pred, net(batch.input))
    task.eval()
    with torch.no_grad():
        assert torch.allclose(task.restore(batch.input), net(batch.input), atol=1e-6)
