"""The MNIST pipeline factory wires the intended components with the intended settings."""

from __future__ import annotations

import json
from pathlib import Path

import tensorflow_model_analysis as tfma

from pipelines.base import accuracy_eval_config
from pipelines.config import apply_overrides
from pipelines.mnist.config import MnistConfig
from pipelines.mnist.pipeline import create_pipeline
from pipelines.training import TRAINING_CONFIG_KEY


def test_components_and_settings(mnist_data_dir: str, tmp_path: Path) -> None:
    config = apply_overrides(MnistConfig(), [f"data.data_dir={mnist_data_dir}", "training.epochs=7"])
    pipeline = create_pipeline(config, str(tmp_path / "root"), str(tmp_path / "serving"))
    by_id = {c.id: c for c in pipeline.components}
    assert list(by_id) == [
        "TFDSExampleGen",
        "StatisticsGen",
        "SchemaGen",
        "ExampleValidator",
        "Transform",
        "Trainer",
        "latest_blessed_model_resolver",
        "Evaluator",
        "AtomicPusher",
    ]
    # Code is reached by dotted module path, never by a file path.
    assert by_id["Transform"].exec_properties["preprocessing_fn"] == "pipelines.mnist.preprocessing.preprocessing_fn"
    assert by_id["Transform"].exec_properties.get("module_file") is None
    assert by_id["Trainer"].exec_properties["run_fn"] == "pipelines.mnist.trainer.run_fn"
    training = json.loads(json.loads(by_id["Trainer"].exec_properties["custom_config"])[TRAINING_CONFIG_KEY])
    assert training["epochs"] == 7 and training["batch_size"] == 64 and training["shuffle_buffer"] == 1000
    push = json.loads(by_id["AtomicPusher"].exec_properties["push_destination"])
    assert push["filesystem"]["base_directory"] == str(tmp_path / "serving" / "mnist")
    assert by_id["Evaluator"].exec_properties["example_splits"] == '["eval"]'


def test_thresholds_apply_to_the_overall_slice_only() -> None:
    config = accuracy_eval_config("label", min_accuracy=0.98, max_accuracy_drop=0.0)
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["label"]]
    accuracy = next(m for m in config.metrics_specs[0].metrics if m.class_name == "SparseCategoricalAccuracy")
    assert not accuracy.HasField("threshold")
    (per_slice,) = accuracy.per_slice_thresholds
    assert list(per_slice.slicing_specs) == [tfma.SlicingSpec()]
    assert per_slice.threshold.value_threshold.lower_bound.value == 0.98
    assert per_slice.threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert -1e-9 < per_slice.threshold.change_threshold.absolute.value < 0
