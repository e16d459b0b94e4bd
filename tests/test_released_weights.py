"""The evaluation pipeline reproduces the published DnCNN-S numbers with the released weights."""

from __future__ import annotations

import pytest
import torch

from restore.archs import DnCNN
from restore.eval import evaluate

from .conftest import compose_config


def test_kair_weights_load_into_dncnn(shared_weights):
    net = DnCNN(1, batch_norm=False, weights=str(shared_weights / "kair_dncnn_25.pth"))
    state = torch.load(shared_weights / "kair_dncnn_25.pth", weights_only=True)
    assert torch.equal(net.body[0].weight, state["model.0.weight"])
    assert torch.equal(net.body[32].bias, state["model.32.bias"])


def test_weights_that_do_not_fit_give_a_clear_error(shared_weights):
    with pytest.raises(ValueError, match="batch_norm=false"):
        DnCNN(1, batch_norm=True, weights=str(shared_weights / "kair_dncnn_25.pth"))


@pytest.mark.slow
@pytest.mark.shared
def test_released_dncnn_s25_reproduces_published_psnr(shared_datasets, shared_weights, tmp_path):
    cfg = compose_config("eval", ["experiment=dncnn_kair_s25", "callbacks=none"], tmp_path)
    metrics = evaluate(cfg)
    # published (TIP 2017): Set12 30.44, BSD68 29.23; the released weights give 30.43 / 29.23
    assert metrics["test/Set12/psnr"] == pytest.approx(30.43, abs=0.03)
    assert metrics["test/BSD68/psnr"] == pytest.approx(29.23, abs=0.03)
    assert metrics["test/Set12/input_psnr"] == pytest.approx(20.37, abs=0.05)
    assert 0.85 < metrics["test/Set12/ssim"] < 0.9


@pytest.mark.slow
@pytest.mark.shared
def test_self_ensemble_improves_released_dncnn(shared_datasets, shared_weights, tmp_path):
    few = tmp_path / "few"  # 3 Set12 images, linked in place: the x8 ensemble costs 8 passes
    few.mkdir()
    for name in ("01.png", "02.png", "05.png"):
        (few / name).symlink_to(shared_datasets / "Set12" / name)
    psnr = {}
    for ensemble in (False, True):
        overrides = [
            "experiment=dncnn_kair_s25",
            "callbacks=none",
            f"data.test_sets.Set12='{few}'",  # scored under the name Set12
            "~data.test_sets.BSD68",
            f"task.self_ensemble={str(ensemble).lower()}",
        ]
        metrics = evaluate(compose_config("eval", overrides, tmp_path / str(ensemble)))
        psnr[ensemble] = metrics["test/Set12/psnr"]
        assert "test/BSD68/psnr" not in metrics
    assert 0.03 < psnr[True] - psnr[False] < 0.5, psnr
