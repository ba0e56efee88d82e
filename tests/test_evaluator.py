"""The Evaluator's noise-aware margins and yesterday's-traffic config, on the tasks' real TFMA configs."""

from __future__ import annotations

import json
import math

import pytest
import tensorflow_model_analysis as tfma

from components.evaluator import Evaluator, final_verdict, noise_margin, previous_traffic_config, widen_margins
from pipelines import tasks
from pipelines.config import apply_overrides
from pipelines.evaluation import overall_threshold


def _ticket_config() -> tfma.EvalConfig:
    spec = tasks.get("ticket")
    return spec.eval_config(spec.default_config())


def _changes(config: tfma.EvalConfig) -> dict[str, tfma.GenericChangeThreshold]:
    return {
        metric.class_name: t.threshold.change_threshold
        for spec in config.metrics_specs
        for metric in spec.metrics
        for t in metric.per_slice_thresholds
        if t.threshold.HasField("change_threshold")
    }


@pytest.mark.reliability
def test_a_quiet_day_on_400_tickets_gets_a_margin_of_one_standard_error() -> None:
    """The issue's case: a better model refused for -0.0100 accuracy (4 tickets of 400) with a margin of 0."""
    config = _ticket_config()
    margins = widen_margins(config, examples=400, z=1.0)
    accuracy_margin = math.sqrt(2 * 0.8 * 0.2 / 400)  # min_department_accuracy 0.8
    assert margins["categorical_accuracy"] == pytest.approx(accuracy_margin)  # 0.0283 > 0.0100
    assert margins["root_mean_squared_error"] == pytest.approx(0.15 / 20)  # max_priority_rmse 0.15
    changes = _changes(config)
    assert changes["CategoricalAccuracy"].absolute.value == pytest.approx(-accuracy_margin)
    assert changes["RootMeanSquaredError"].absolute.value == pytest.approx(0.0075)


def test_the_margin_shrinks_with_the_split_and_never_undercuts_the_configured_one() -> None:
    (threshold,) = overall_threshold(lower_bound=0.98, max_regression=0.0)
    assert noise_margin(threshold.threshold, 6000, 1.0) == pytest.approx(math.sqrt(2 * 0.98 * 0.02 / 6000))
    assert noise_margin(threshold.threshold, 6000, 2.0) == pytest.approx(2 * noise_margin(threshold.threshold, 6000, 1))
    spec = tasks.get("ticket")
    generous = apply_overrides(spec.default_config(), ["eval.max_department_accuracy_drop=0.1"])
    margins = widen_margins(spec.eval_config(generous), examples=400, z=1.0)
    assert margins["categorical_accuracy"] == pytest.approx(0.1)
    assert widen_margins(_ticket_config(), examples=400, z=0.0)["categorical_accuracy"] == 0.0  # z=0: as configured


def test_yesterdays_traffic_has_no_absolute_bound_and_a_relative_tolerance() -> None:
    relaxed = previous_traffic_config(_ticket_config(), tolerance=0.05)
    for name, change in _changes(relaxed).items():
        assert not change.HasField("absolute"), name
        higher = change.direction == tfma.MetricDirection.HIGHER_IS_BETTER
        assert change.relative.value == pytest.approx(-0.05 if higher else 0.05), name
    for spec in relaxed.metrics_specs:
        for metric in spec.metrics:
            for threshold in metric.per_slice_thresholds:
                assert not threshold.threshold.HasField("value_threshold")


def test_an_unknown_traffic_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="previous_traffic='maybe' is not one of"):
        Evaluator(
            examples=None, model=None, eval_config=tfma.EvalConfig(), example_splits=["eval"], previous_traffic="maybe"
        )  # type: ignore[arg-type]


@pytest.mark.reliability
def test_worse_on_yesterdays_traffic_is_not_blessed_unless_that_traffic_is_gone() -> None:
    assert final_verdict(True, True, "compare") and final_verdict(True, None, "compare")  # None: nothing to compare
    assert not final_verdict(True, False, "compare")
    assert final_verdict(True, False, "gone") and final_verdict(True, False, "off")  # recorded only / not run
    assert not final_verdict(False, True, "gone")  # today's verdict always counts
    with pytest.raises(ValueError, match="is not one of"):
        final_verdict(True, True, "sometimes")


def test_the_evaluator_gets_the_configs_traffic_settings(tmp_path) -> None:  # noqa: ANN001
    from pipelines.pipeline import create_pipeline

    spec = tasks.get("penguin")
    overrides = [f"data.input_base={tmp_path}", "evaluator.previous_traffic=gone", "evaluator.noise_z=2"]
    pipeline = create_pipeline(spec, apply_overrides(spec.default_config(), overrides), str(tmp_path), str(tmp_path))
    (evaluator,) = [c for c in pipeline.components if c.id == "Evaluator"]
    assert evaluator.exec_properties["previous_traffic"] == "gone" and evaluator.exec_properties["noise_z"] == 2.0
    assert "previous_examples" in evaluator.inputs  # the previous validated span's examples, through the resolver
    # What judges data and models is not what shapes them: changing it re-runs neither Transform nor the Trainer.
    for node in ("Transform", "Trainer"):
        (component,) = [c for c in pipeline.components if c.id == node]
        shaped = json.loads(json.loads(component.exec_properties["custom_config"])["config"])
        assert "evaluator" not in shaped and "validation" not in shaped and "training" in shaped, node
