"""``callbacks=[default,ema]``: an EMA of the weights is what is validated, saved, tested and
resumed (conf/callbacks/ema.yaml, restore.callbacks.EMAWeights)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from restore.eval import evaluate
from restore.train import train

from .conftest import compose_config

EMA = ["callbacks=[default,ema]", "callbacks.ema.decay=0.5", "trainer.max_epochs=1"]


def _weights(state: dict) -> dict[str, torch.Tensor]:
    return {k: v.float() for k, v in state.items() if k.startswith("net.")}


def _differ(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


SEEN: dict[str, dict] = {}


class ResumeProbe(L.Callback):
    """Records, when the resumed fit starts, the model's weights and the average's."""

    def on_train_start(self, trainer, pl_module):
        ema = next(cb for cb in trainer.callbacks if type(cb).__name__ == "EMAWeights")
        average = {k.removeprefix("module."): v for k, v in ema._average_model.state_dict().items()}
        SEEN.update(
            {
                "model": {
                    k: v.detach().clone() for k, v in _weights(pl_module.state_dict()).items()
                },
                "average": {k: v.detach().clone() for k, v in _weights(average).items()},
                "n_averaged": ema._average_model.n_averaged.clone(),
            }
        )


def test_ema_weights_are_saved_and_tested(train_cfg, tmp_path):
    metrics = train(train_cfg(*EMA))
    best = next((tmp_path / "checkpoints").glob("epoch_*.ckpt"))
    ckpt = torch.load(best, weights_only=False)
    # the checkpoint's state_dict is the average; the raw weights are kept beside it
    assert _differ(_weights(ckpt["state_dict"]), _weights(ckpt["current_model_state"])) > 1e-4
    assert int(ckpt["averaging_state"]["n_averaged"]) == ckpt["global_step"] > 0
    # restore.eval of that checkpoint (its state_dict) scores what restore.train tested
    again = evaluate(compose_config("eval", [f"ckpt_path={best}"], tmp_path / "eval"))
    assert again["test/embedded/psnr"] == pytest.approx(metrics["test/embedded/psnr"], abs=1e-4)
    # ... and the raw weights score differently: the test really used the average
    raw = tmp_path / "raw.ckpt"
    torch.save({**ckpt, "state_dict": ckpt["current_model_state"]}, raw)
    other = evaluate(compose_config("eval", [f"ckpt_path={raw}"], tmp_path / "eval_raw"))
    assert other["test/embedded/psnr"] != pytest.approx(metrics["test/embedded/psnr"], abs=1e-4)


def test_ema_resumes_both_models(train_cfg, tmp_path):
    train(train_cfg(*EMA, "test=false"))
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    probe = "+callbacks.probe._target_=tests.test_ema.ResumeProbe"
    train(train_cfg(*EMA[:2], "trainer.max_epochs=2", "test=false", "ckpt_path=last", probe))
    seen = SEEN
    # training goes on from the raw weights, the average from the saved average
    assert _differ(seen["model"], _weights(saved["current_model_state"])) < 1e-6
    assert _differ(seen["average"], _weights(saved["state_dict"])) < 1e-6
    assert int(seen["n_averaged"]) == int(saved["averaging_state"]["n_averaged"])
    after = torch.load(Path(tmp_path, "checkpoints", "last.ckpt"), weights_only=False)
    assert int(after["averaging_state"]["n_averaged"]) == after["global_step"]
    assert after["global_step"] > saved["global_step"]
