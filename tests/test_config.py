"""Typed configs and command-line overrides."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError, TrainingConfig, apply_overrides, describe
from pipelines.mnist.config import MnistConfig


def test_overrides_convert_types_and_nest() -> None:
    config = apply_overrides(
        MnistConfig(),
        [
            "training.epochs=3",
            "training.learning_rate=0.01",
            "training.steps_per_epoch=none",
            "data.download=true",
            'data.splits={"train": "train[:50]", "eval": "test"}',
            "eval.min_accuracy=0.5",
        ],
    )
    assert config.training.epochs == 3 and config.training.learning_rate == 0.01
    assert config.training.steps_per_epoch is None and config.data.download is True
    assert dict(config.data.splits) == {"train": "train[:50]", "eval": "test"}
    assert config.eval.min_accuracy == 0.5
    assert MnistConfig().training.epochs == 15  # the default is untouched


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.epochs=0", "training.epochs=0 is invalid: must be an integer >= 1"),
        ("training.epochs=three", "must be an integer"),
        ("training.learning_rate=-1", "in \\(0, 10\\)"),
        ("training.epoch=3", "unknown config field 'training.epoch'"),
        ("eval.min_accuracy=1.5", "in \\[0, 1\\]"),
        ("data.download=maybe", "must be true or false"),
        ("data.splits=[1]", "must be a JSON object"),
        ('data.splits={"x": "train"}', "data.train_split='train' is invalid"),
        ("training", "must look like section.field=value"),
        ("training=3", "is a section"),
    ],
)
def test_bad_values_name_the_field_and_the_fix(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(MnistConfig(), [override])


def test_training_config_json_round_trip() -> None:
    config = TrainingConfig(epochs=4, steps_per_epoch=10)
    assert TrainingConfig.from_json(config.to_json()) == config


def test_describe_lists_every_field() -> None:
    lines = describe(MnistConfig())
    assert "training.batch_size = 64" in lines and "training.shuffle_buffer = 1000" in lines
    assert "training.learning_rate = 0.001" in lines
