"""The pipeline factory wires every task's spec into the intended components with the intended settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tensorflow_model_analysis as tfma
from helpers.components import pipeline_components

from common.contract import CONFIG_KEY, TASK_KEY
from common.metadata_names import DECLARED_EDGES
from pipelines import tasks
from pipelines.config import apply_overrides
from pipelines.evaluation import classifier_eval_config, overall_threshold
from pipelines.pipeline import create_pipeline


@pytest.mark.parametrize("task", ["mnist", "ticket"])
def test_components_and_settings(task: str, mnist_data_dir: str, tmp_path: Path) -> None:
    spec = tasks.get(task)
    overrides = ["training.epochs=7"] + ([f"data.data_dir={mnist_data_dir}"] if spec.reads_tfds else [])
    config = apply_overrides(spec.default_config(), overrides)
    pipeline = create_pipeline(spec, config, str(tmp_path / "root"), str(tmp_path / "serving"))
    by_id = {c.id: c for c in pipeline.components}
    example_gen = "TFDSExampleGen" if spec.reads_tfds else "GeneratorExampleGen"
    assert set(by_id) == pipeline_components(example_gen)
    upstream = {name: {u.id for u in node.upstream_nodes} for name, node in by_id.items()}
    # The examples too: the content checks decode images and read texts.
    assert upstream["DataValidator"] == {
        example_gen,
        "StatisticsGen",
        "ImportSchemaGen",
        "previous_validated_statistics",
    }
    assert upstream["Transform"] == {example_gen, "ImportSchemaGen", "DataValidator"}
    # Pushed only when blessed and infra-blessed; the pushed model is the one that was tried (no `model` input).
    assert upstream["InfraValidator"] == {"Trainer", example_gen, "Evaluator"}
    assert set(by_id["AtomicPusher"].inputs) == {"model_blessing", "infra_blessing"}
    assert by_id["InfraValidator"].exec_properties["split"] == "eval"
    # Code is reached by dotted module path, never by a file path; one run_fn serves every task.
    assert by_id["Transform"].exec_properties["preprocessing_fn"] == spec.preprocessing_fn
    assert by_id["Transform"].exec_properties.get("module_file") is None
    assert by_id["Trainer"].exec_properties["run_fn"] == "pipelines.training.run_fn"
    custom = json.loads(by_id["Trainer"].exec_properties["custom_config"])
    assert custom[TASK_KEY] == f"pipelines.{task}"  # the task's module: the Trainer imports it by this path
    assert tasks.get(custom[TASK_KEY]) is spec
    sent = json.loads(custom[CONFIG_KEY])
    assert sent["training"]["epochs"] == 7 and sent["training"]["batch_size"] == config.training.batch_size
    push = json.loads(by_id["AtomicPusher"].exec_properties["push_destination"])
    assert push["filesystem"]["base_directory"] == str(tmp_path / "serving" / task)
    assert by_id["Evaluator"].exec_properties["example_splits"] == '["eval"]'
    # The curated schema in the task's folder, and the gate before Transform.
    assert by_id["ImportSchemaGen"].exec_properties["schema_file"] == spec.schema_file
    assert by_id["DataValidator"] in by_id["Transform"].upstream_nodes
    assert by_id["DataValidator"].exec_properties["allow_anomalies"] == 0
    # The wiring the UI draws where ML Metadata shows no event (common/metadata_names.py) is this pipeline's.
    assert all(source in upstream[target] for source, target in DECLARED_EDGES), DECLARED_EDGES
    # What infra validation holds the model to: the outputs the task's contract declares (what clients read).
    contract = json.loads(by_id["InfraValidator"].exec_properties["contract"])
    assert contract["serving_raw"] == dict(spec.serving(config).declared_outputs) and contract["serving_raw"]
    assert by_id["InfraValidator"].exec_properties["max_latency_ms"] == config.infra.max_latency_ms


def test_an_edited_schema_is_imported_again(tmp_path: Path) -> None:
    from components.schema_importer import ImportSchemaGen

    schema = tmp_path / "schema.pbtxt"
    schema.write_text('feature { name: "x" type: INT }\n')
    first = ImportSchemaGen(schema_file=str(schema)).exec_properties["content_hash"]
    schema.write_text('feature { name: "x" type: FLOAT }\n')  # same path, new content: a new cache key
    assert ImportSchemaGen(schema_file=str(schema)).exec_properties["content_hash"] != first


def test_a_window_of_validated_spans_feeds_transform_after_the_data_validator() -> None:
    spec = tasks.get("ticket")
    config = apply_overrides(spec.default_config(), ["data.span=3", "data.window_spans=2"])
    pipeline = create_pipeline(spec, config, "/tmp/root", "/tmp/serving")
    by_id = {c.id: c for c in pipeline.components}
    window = by_id["span_window"]
    assert window._strategy_class.__name__ == "ValidatedSpanWindowStrategy"
    assert window._config == {"num_spans": 2}
    assert by_id["Transform"].inputs["examples"].producer_component_id == "span_window"
    # The window is read once this run's span has passed (or failed) validation.
    order = [c.id for c in pipeline.components]
    assert by_id["DataValidator"] in window.upstream_nodes and order.index("DataValidator") < order.index("span_window")
    assert by_id["GeneratorExampleGen"].exec_properties["range_config"]  # this run's span: 3
    with pytest.raises(ValueError, match="window_spans=2: a window of validated spans needs"):
        create_pipeline(spec, config, "/tmp/root", "/tmp/serving", orchestrator="kubeflow_v2")


def test_thresholds_apply_to_the_overall_slice_only() -> None:
    config = classifier_eval_config("label", min_accuracy=0.98, max_accuracy_drop=0.0)
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["label"]]
    accuracy = next(m for m in config.metrics_specs[0].metrics if m.class_name == "SparseCategoricalAccuracy")
    assert not accuracy.HasField("threshold")
    (per_slice,) = accuracy.per_slice_thresholds
    assert list(per_slice.slicing_specs) == [tfma.SlicingSpec()]
    assert per_slice.threshold.value_threshold.lower_bound.value == 0.98
    assert per_slice.threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert -1e-9 < per_slice.threshold.change_threshold.absolute.value < 0


def test_lower_is_better_thresholds_allow_the_configured_regression() -> None:
    (rmse,) = overall_threshold(upper_bound=0.15, max_regression=0.01)
    assert rmse.threshold.value_threshold.upper_bound.value == 0.15
    assert rmse.threshold.change_threshold.direction == tfma.MetricDirection.LOWER_IS_BETTER
    assert rmse.threshold.change_threshold.absolute.value == 0.01
    with pytest.raises(ValueError, match="exactly one"):
        overall_threshold(lower_bound=0.5, upper_bound=0.6)
