"""Typed configs and command-line overrides: one validation mechanism for every task and field."""

from __future__ import annotations

import pytest

from pipelines import tasks
from pipelines.config import ConfigError, apply_overrides, describe, from_json, to_json
from pipelines.mnist import MnistConfig
from pipelines.ticket.config import TicketConfig


def test_overrides_convert_types_and_nest() -> None:
    config = apply_overrides(
        MnistConfig(),
        [
            "training.epochs=3",
            "training.learning_rate=0.01",
            "training.steps_per_epoch=none",
            "training.optimizer=adam",
            "data.download=true",
            'data.splits={"train": "train[:50]", "eval": "test"}',
            "eval.min_accuracy=0.5",
        ],
    )
    assert config.training.epochs == 3 and config.training.learning_rate == 0.01
    assert config.training.steps_per_epoch is None and config.data.download is True
    assert config.training.optimizer == "adam"
    assert dict(config.data.splits) == {"train": "train[:50]", "eval": "test"}
    assert config.eval.min_accuracy == 0.5
    assert MnistConfig().training.epochs == 15  # the default is untouched


@pytest.mark.parametrize(
    ("task", "override", "message"),
    [
        ("mnist", "training.epochs=0", r"training.epochs='0' is invalid: must be >= 1"),
        ("mnist", "training.epochs=three", r"training.epochs='three' is invalid: must be a valid integer"),
        ("mnist", "training.learning_rate=-1", r"must be > 0"),
        ("mnist", "training.optimizer=adamw", r"training.optimizer='adamw' is invalid: must be 'rmsprop', 'adam'"),
        ("mnist", "training.epoch=3", r"unknown config field 'training.epoch'; known here: augment, batch_size"),
        ("mnist", "eval.min_accuracy=1.5", r"eval.min_accuracy='1.5' is invalid: must be <= 1"),
        ("mnist", "data.download=maybe", r"must be a valid boolean"),
        ("mnist", "data.splits=[1]", r"data.splits='\[1\]' is invalid: must be a valid dictionary"),
        ("mnist", 'data.splits={"x": "train"}', r"train_split='train' must be one of the split names \['x'\]"),
        ("mnist", "training", r"must look like section.field=value"),
        ("mnist", "training=3", r"is a section"),
        ("mnist", "training.learning_rate=nan", r"must be a finite number"),
        # The ticket cases a sweep of bad inputs found (each used to end in a traceback or be accepted).
        ("ticket", "data.num_examples=0", r"data.num_examples='0' is invalid: must be >= 1"),
        ("ticket", 'data.splits={"train": -0.7, "eval": 0.3}', r"data.splits: split 'train' has proportion -0.7"),
        ("ticket", "data.shard_size=0", r"data.shard_size='0' is invalid: must be >= 1"),
        ("ticket", "data.seed=-1", r"data.seed='-1' is invalid: must be >= 0"),
        ("ticket", "data.num_examples=2", r"get no records out of num_examples=2"),
        ("ticket", "eval.max_department_accuracy_drop=-0.5", r"must be >= 0"),
        ("ticket", "eval.max_department_accuracy_drop=7", r"must be <= 1"),
        ("ticket", "eval.max_priority_rmse_increase=-2", r"must be >= 0"),
        ("ticket", "eval.max_priority_rmse=nan", r"eval.max_priority_rmse='nan' is invalid: must be a finite number"),
        ("ticket", "model.features_l1=nan", r"model.features_l1='nan' is invalid: must be a finite number"),
        ("ticket", "model.hidden_units=0", r"must be >= 1"),
        ("ticket", "model.api=sequential", r"model.api='sequential' is invalid: must be 'functional' or 'subclassed'"),
        ("mnist", "model.architecture=resnet", r"model.architecture='resnet' is invalid: must be 'baseline' or"),
        ("ticket", "export.tflite=maybe", r"export.tflite='maybe' is invalid: must be a valid boolean"),
    ],
)
@pytest.mark.reliability
def test_bad_values_name_the_field_and_the_fix(task: str, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(tasks.get(task).default_config(), [override])


def test_every_task_config_has_runnable_defaults_and_round_trips_through_json() -> None:
    for name in sorted(tasks.TASKS):
        spec = tasks.get(name)
        config = spec.default_config()
        assert from_json(spec.config_class, to_json(config)) == config
        assert config.data.train_split in config.data.splits and config.data.eval_split in config.data.splits


def test_configs_are_frozen() -> None:
    config = TicketConfig()
    with pytest.raises(ValueError, match="frozen"):
        config.training.epochs = 3  # type: ignore[misc]


def test_describe_lists_every_field() -> None:
    lines = describe(MnistConfig())
    assert "training.batch_size = 64" in lines and "training.shuffle_buffer = 1000" in lines
    assert "training.learning_rate = 0.001" in lines and "eval.min_accuracy = 0.98" in lines


def test_none_is_a_value_where_the_field_allows_it_and_text_elsewhere() -> None:
    config = apply_overrides(tasks.get("ticket").default_config(), ["data.drift=none", "training.steps_per_epoch=none"])
    assert config.data.drift == "none" and config.training.steps_per_epoch is None


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.batch_size=10000000000000000000000000", "training.batch_size='10000000000000000000000000' is "
         "invalid: must be at most 2,147,483,647 in magnitude."),
        ("training.optimizer=", "training.optimizer='' is invalid: must be 'rmsprop', 'adam', 'sgd' or 'adagrad'."),
        ("tuning.learning_rates=[nan]", "tuning.learning_rates='[nan]' is invalid: looks like JSON but is not valid"),
        ("tuning.learning_rates=[NaN]", "tuning.learning_rates='[NaN]' is invalid: looks like JSON but is not valid "
         "JSON (NaN is not a number a setting can take)."),
    ],
)  # fmt: skip
def test_hostile_overrides_name_the_field(override: str, message: str) -> None:
    """A 26-digit batch size used to pass the check and fail at the Trainer 85 s later; '' and [nan] named no field."""
    with pytest.raises(ConfigError) as error:
        apply_overrides(tasks.get("mnist").default_config(), [override])
    assert message in str(error.value)
