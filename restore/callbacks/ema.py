"""An exponential moving average of the weights: Lightning's ``EMAWeightAveraging``, tested and
resumed with the averaged weights.

Lightning's callback keeps the average in the checkpoints' ``state_dict`` (the raw weights under
``current_model_state``), swaps it in for validation and copies it into the model when training
ends. One thing is changed: loading a checkpoint outside fitting (``trainer.test(ckpt_path=...)``
after ``fit``, as ``restore.train`` tests the best checkpoint) would put the *raw* weights back
into the model, so the test would not score what validation chose and the checkpoint holds; here
the average (the checkpoint's ``state_dict``) is what is tested.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn


class EMAWeights(EMAWeightAveraging):
    """EMA of the weights (see the module doc); arguments as Lightning's ``EMAWeightAveraging``:
    ``decay``, ``update_every_n_steps``, ``update_starting_at_step``, ``device``."""

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Resume both models when fitting; otherwise keep the averaged ``state_dict``."""
        if trainer.state.fn != TrainerFn.FITTING:
            return
        super().on_load_checkpoint(trainer, pl_module, checkpoint)
