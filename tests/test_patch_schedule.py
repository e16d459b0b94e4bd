"""``callbacks=[...,patch_schedule]``: the training batches change shape at the configured
fractions of training (conf/callbacks/patch_schedule.yaml, restore.callbacks.PatchSchedule)."""

from __future__ import annotations

import lightning as L
import pytest

from restore.callbacks import PatchSchedule
from restore.train import train
from restore.utils.errors import ConfigError

SHAPES: list[tuple[int, ...]] = []


class ShapeProbe(L.Callback):
    """Records the shape of every training batch the step receives."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        SHAPES.append(tuple(batch.target.shape))


PROBE = "+callbacks.probe._target_=tests.test_patch_schedule.ShapeProbe"
SCHEDULE = [
    "callbacks=[default,patch_schedule]",
    "callbacks.patch_schedule.stages=[{start: 0.5, patch_size: 16, batch_size: 3}]",
    "trainer.max_epochs=2",  # 2 epochs of 4 batches of 8: the stage starts at step 4
    "test=false",
]


def test_the_batches_take_the_stages_shape_from_its_start(train_cfg):
    SHAPES.clear()
    train(train_cfg(*SCHEDULE, "data.resident=true", PROBE))
    assert len(SHAPES) == 8
    old, new = (8, 1, 32, 32), (3, 1, 16, 16)
    # one batch may be drawn before the switch (the loader fetches one ahead), none after
    switch = SHAPES.index(new)
    assert switch in (4, 5) and SHAPES[:switch] == [old] * switch
    assert SHAPES[switch:] == [new] * (8 - switch)


def test_the_worker_loader_is_refused_with_the_key_to_set(train_cfg):
    with pytest.raises(ConfigError, match=r"data\.resident=true"):
        train(train_cfg(*SCHEDULE, "data.resident=false"))


def test_a_stage_too_large_for_the_images_names_its_key(train_cfg):
    too_large = "callbacks.patch_schedule.stages=[{start: 0.0, patch_size: 4096, batch_size: 1}]"
    with pytest.raises(ConfigError, match=r"stages\[0\]: patch_size=4096 is larger than"):
        train(train_cfg(*SCHEDULE, too_large, "data.resident=true"))


@pytest.mark.parametrize(
    "stages, match",
    [
        ([{"start": 0.5, "patch_size": 16}], r"stages\[0\] lacks \['batch_size'\]"),
        (
            [
                {"start": 0.6, "patch_size": 16, "batch_size": 2},
                {"start": 0.3, "patch_size": 24, "batch_size": 2},
            ],
            "must rise",
        ),
        ([{"start": 1.0, "patch_size": 16, "batch_size": 2}], "must rise"),
    ],
)
def test_bad_stages_name_the_key(stages, match):
    with pytest.raises(ConfigError, match=match):
        PatchSchedule(stages)


def test_the_stage_in_force_is_the_last_started():
    schedule = PatchSchedule(
        [
            {"start": 0.0, "patch_size": 48, "batch_size": 28},
            {"start": 0.5, "patch_size": 96, "batch_size": 7},
        ]
    )
    assert [schedule.stage(f) for f in (0.0, 0.49, 0.5, 0.99)] == [0, 0, 1, 1]
