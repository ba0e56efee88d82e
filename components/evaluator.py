"""Evaluator: TFX's Evaluator (TFMA, its executor), with a noise-aware margin and yesterday's traffic.

Two things a fixed TFMA config cannot know when the pipeline is built:

* **The noise of the eval split.** "No worse than the last blessed model" with a margin of 0 refuses
  a better model for one ticket in four hundred. The margin of each no-regression threshold becomes
  the larger of the configured one and ``noise_z`` standard errors of the difference of two models'
  metric on ``n`` examples (``n`` counted when the Evaluator runs): ``sqrt(2 b (1 - b) / n)`` for an
  accuracy whose lower bound is ``b`` (no model that passes the bound has a larger binomial error),
  ``u / sqrt(n)`` for an RMSE whose upper bound is ``u``. The margins used are recorded on the blessing.
* **Yesterday's traffic.** A candidate trained on a day whose data changed (a new scanner, a new
  form) can beat the baseline on today's eval split and be far worse on what most requests still
  look like. With ``previous_examples`` (the last validated span's examples), the candidate and the
  baseline are also evaluated there (TFMA, the same metrics), with every no-regression threshold a
  relative one of ``previous_tolerance``: a candidate worse than that is not blessed, unless
  ``previous_traffic="gone"`` (the old traffic will not come back: the result is recorded only);
  ``"off"`` skips this second evaluation (it costs one more TFMA pass over the previous eval split).
  The evaluation is kept in ``<evaluation>/previous_traffic``.

And **the trivial baselines** (:mod:`components.trivial_baseline`): the majority class or the mean,
and the best one-column rule; a candidate that does not beat the best of them by ``trivial_margin``
(None: the noise margin) is not blessed. The scores are recorded on the blessing (``trivial``).

Long because TFX's executor is extended three ways around one ``Do``: margins, yesterday's traffic, trivial baselines.
"""

from __future__ import annotations

import copy
import math
import os
import re
import time
from typing import Any

import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx import types
from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as tfx_executor
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import json_utils

from components.examples_io import count_examples

PREVIOUS_EXAMPLES_KEY = "previous_examples"
NOISE_Z_KEY = "noise_z"
PREVIOUS_TRAFFIC_KEY = "previous_traffic"
PREVIOUS_TOLERANCE_KEY = "previous_tolerance"
PREVIOUS_DIR = "previous_traffic"
TRIVIAL_KEY = "trivial"  # exec property: 1 to judge the trivial baselines; blessing property: their scores
TRIVIAL_MARGIN_KEY = "trivial_margin"  # < 0: the noise margin
TRAFFIC_MODES = ("compare", "gone", "off")


def metric_name(class_name: str) -> str:
    """The name TFMA gives a metric, as Keras does: ``CategoricalAccuracy`` -> ``categorical_accuracy``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


def _thresholds(config: tfma.EvalConfig) -> list[tuple[str, Any]]:
    """(metric name, MetricThreshold) of every threshold of an eval config."""
    found = []
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            if metric.HasField("threshold"):
                found.append((metric.class_name, metric.threshold))
            found += [(metric.class_name, t.threshold) for t in metric.per_slice_thresholds]
    return found


def noise_margin(threshold: Any, examples: int, z: float) -> float | None:
    """``z`` standard errors of the difference of two models' metric on ``examples`` (None: not a bounded metric).

    An accuracy-like metric (higher is better, lower bound ``b`` in [0, 1]): ``sqrt(2 b (1 - b) / n)``;
    an error-like one (lower is better, upper bound ``u``): ``u / sqrt(n)``.
    """
    if examples <= 0 or not threshold.HasField("change_threshold"):
        return None
    value, direction = threshold.value_threshold, threshold.change_threshold.direction
    if direction == tfma.MetricDirection.HIGHER_IS_BETTER and value.HasField("lower_bound"):
        bound = min(max(value.lower_bound.value, 0.0), 1.0)
        return z * math.sqrt(2 * bound * (1 - bound) / examples)
    if direction == tfma.MetricDirection.LOWER_IS_BETTER and value.HasField("upper_bound"):
        return z * value.upper_bound.value / math.sqrt(examples)
    return None


def widen_margins(config: tfma.EvalConfig, examples: int, z: float) -> dict[str, float]:
    """Set each no-regression margin to at least its noise margin (in place); returns metric -> margin used."""
    used = {}
    for name, threshold in _thresholds(config):
        if not threshold.HasField("change_threshold") or not threshold.change_threshold.HasField("absolute"):
            continue
        change = threshold.change_threshold
        configured = abs(change.absolute.value)
        margin = max(configured, noise_margin(threshold, examples, z) or 0.0)
        sign = -1 if change.direction == tfma.MetricDirection.HIGHER_IS_BETTER else 1
        change.absolute.value = sign * margin
        used[metric_name(name)] = margin if margin > 1e-9 else 0.0
    return used


def previous_traffic_config(config: tfma.EvalConfig, tolerance: float) -> tfma.EvalConfig:
    """The config for yesterday's traffic: no absolute bounds; no-regression is relative, by ``tolerance``."""
    relaxed = copy.deepcopy(config)
    for _, threshold in _thresholds(relaxed):
        if not threshold.HasField("change_threshold"):
            continue
        threshold.ClearField("value_threshold")
        change = threshold.change_threshold
        change.ClearField("absolute")
        higher = change.direction == tfma.MetricDirection.HIGHER_IS_BETTER
        change.relative.value = -tolerance if higher else tolerance
    return relaxed


def overall_values(evaluation_uri: str, names: set[str]) -> dict[str, dict[str, float]]:
    """``[output/]metric`` -> model name -> value on the overall slice, for the metrics in ``names``."""
    values: dict[str, dict[str, float]] = {}
    for per_slice in tfma.load_metrics(evaluation_uri):
        if per_slice.slice_key.single_slice_keys:
            continue
        for entry in per_slice.metric_keys_and_values:
            key = entry.key
            if key.name in names and not key.is_diff and entry.value.HasField("double_value"):
                name = f"{key.output_name}/{key.name}" if key.output_name else key.name
                values.setdefault(name, {})[key.model_name or "candidate"] = entry.value.double_value.value
    return values


def final_verdict(blessed_today: bool, passed_yesterday: bool | None, mode: str) -> bool:
    """Blessed or not: today's verdict, and yesterday's traffic's unless ``mode`` records it only (or skips it)."""
    if mode not in TRAFFIC_MODES:
        raise ValueError(f"previous_traffic={mode!r} is not one of {TRAFFIC_MODES}")
    return blessed_today and (passed_yesterday is not False or mode != "compare")


def _set_blessed(blessing: types.Artifact, blessed: bool) -> None:
    for name in (constants.BLESSED_FILE_NAME, constants.NOT_BLESSED_FILE_NAME):
        path = os.path.join(blessing.uri, name)
        if tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
    name = constants.BLESSED_FILE_NAME if blessed else constants.NOT_BLESSED_FILE_NAME
    with tf.io.gfile.GFile(os.path.join(blessing.uri, name), "w") as f:
        f.write("")
    blessing.set_int_custom_property(
        constants.ARTIFACT_PROPERTY_BLESSED_KEY, constants.BLESSED_VALUE if blessed else constants.NOT_BLESSED_VALUE
    )


class Executor(tfx_executor.Executor):
    """TFX's Evaluator executor, run with noise-aware margins, and once more on yesterday's traffic."""

    def Do(  # noqa: N802 (TFX API)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Evaluate (TFMA) with widened margins; compare on the previous span's eval split; bless or not."""
        config = json_format.Parse(exec_properties[standard_component_specs.EVAL_CONFIG_KEY], tfma.EvalConfig())
        splits = json_utils.loads(exec_properties.get(standard_component_specs.EXAMPLE_SPLITS_KEY) or "null")
        splits = splits or ["eval"]
        examples = artifact_utils.get_single_instance(input_dict[standard_component_specs.EXAMPLES_KEY])
        count = sum(count_examples(examples.uri, split) for split in splits)
        margins = widen_margins(config, count, float(exec_properties.get(NOISE_Z_KEY) or 0.0))
        properties = {**exec_properties, standard_component_specs.EVAL_CONFIG_KEY: json_format.MessageToJson(config)}
        evaluation = artifact_utils.get_single_instance(output_dict[standard_component_specs.EVALUATION_KEY])
        blessing = artifact_utils.get_single_instance(output_dict[standard_component_specs.BLESSING_KEY])

        traffic = None
        previous = (input_dict.get(PREVIOUS_EXAMPLES_KEY) or [None])[0]
        has_baseline = bool(input_dict.get(standard_component_specs.BASELINE_MODEL_KEY))
        mode = exec_properties.get(PREVIOUS_TRAFFIC_KEY) or "compare"
        if previous is not None and has_baseline and previous.span != examples.span and mode != "off":
            tolerance = float(exec_properties.get(PREVIOUS_TOLERANCE_KEY) or 0.0)
            traffic = self._previous_traffic(input_dict, properties, config, previous, evaluation.uri, tolerance)
        super().Do(input_dict, output_dict, properties)

        if has_baseline:  # the margins apply only when there is a model to be no worse than
            blessing.set_json_value_custom_property("noise_margins", margins)
            blessing.set_int_custom_property("eval_examples", count)
        if traffic is not None:
            traffic["mode"] = mode
            blessing.set_json_value_custom_property(PREVIOUS_TRAFFIC_KEY, traffic)
            blessed = blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 1
            if blessed and not final_verdict(blessed, traffic["passed"], mode):
                _set_blessed(blessing, False)
        if int(exec_properties.get(TRIVIAL_KEY) or 0):
            model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
            trivial = _trivial(config, model, examples, splits[0], evaluation.uri, count, exec_properties)
            if trivial is not None:
                blessing.set_json_value_custom_property(TRIVIAL_KEY, trivial)
                blessed = blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 1
                if blessed and not trivial["passed"]:
                    _set_blessed(blessing, False)

    def _previous_traffic(
        self,
        input_dict: dict[str, list[types.Artifact]],
        properties: dict[str, Any],
        config: tfma.EvalConfig,
        previous: types.Artifact,
        evaluation_uri: str,
        tolerance: float,
    ) -> dict[str, Any]:
        """Evaluate candidate and baseline on the previous span's examples; the verdict and the values."""
        side_evaluation, side_blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
        side_evaluation.uri = os.path.join(evaluation_uri, PREVIOUS_DIR)
        side_blessing.uri = os.path.join(evaluation_uri, PREVIOUS_DIR, "blessing")
        tf.io.gfile.makedirs(side_blessing.uri)
        started = time.perf_counter()
        relaxed = previous_traffic_config(config, tolerance)
        super().Do(
            {**input_dict, standard_component_specs.EXAMPLES_KEY: [previous]},
            {
                standard_component_specs.EVALUATION_KEY: [side_evaluation],
                standard_component_specs.BLESSING_KEY: [side_blessing],
            },
            {**properties, standard_component_specs.EVAL_CONFIG_KEY: json_format.MessageToJson(relaxed)},
        )
        names = {metric_name(name) for name, threshold in _thresholds(config) if threshold.HasField("change_threshold")}
        return {
            "span": int(previous.span),
            "tolerance": tolerance,
            "passed": side_blessing.get_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY) == 1,
            "metrics": overall_values(side_evaluation.uri, names),
            "evaluation": side_evaluation.uri,
            "seconds": round(time.perf_counter() - started, 1),
        }


def _trivial(
    config: tfma.EvalConfig,
    model: types.Artifact,
    examples: types.Artifact,
    split: str,
    evaluation_uri: str,
    count: int,
    exec_properties: dict[str, Any],
) -> dict[str, Any] | None:
    """The trivial baselines' scores beside the candidate's, and whether it beat them (None: nothing to judge)."""
    from tfx.utils import path_utils

    from components import trivial_baseline
    from components.examples_io import read_examples

    judged = trivial_baseline.judged_metric(config)
    if judged is None:
        return None
    output, class_name, classification = judged
    spec = config.model_specs[0]
    label_key = spec.label_keys[output] if output and spec.label_keys else spec.label_key
    name = metric_name(class_name)
    values = overall_values(evaluation_uri, {name}).get(f"{output}/{name}" if output else name, {})
    if "candidate" not in values or not label_key:
        return None
    started = time.perf_counter()
    trivial, rule = trivial_baseline.trivial_baselines(
        path_utils.serving_model_path(model.uri),
        read_examples(examples.uri, "train", trivial_baseline.SAMPLE),
        read_examples(examples.uri, split, trivial_baseline.SAMPLE),
        label_key,
        classification,
    )
    rules = [r for r in (trivial, rule) if r is not None]
    best = max(rules, key=lambda r: r.score if classification else -r.score)
    configured = float(exec_properties.get(TRIVIAL_MARGIN_KEY) if exec_properties.get(TRIVIAL_MARGIN_KEY) is not None
                       else -1.0)  # fmt: skip
    z = float(exec_properties.get(NOISE_Z_KEY) or 0.0)
    needed = configured if configured >= 0 else trivial_baseline.margin(best.score, count, z, classification)
    candidate = values["candidate"]
    passed = candidate > best.score + needed if classification else candidate < best.score - needed
    return {
        "metric": f"{output}/{name}" if output else name,
        "candidate": candidate,
        "baselines": [[r.name, r.score] for r in rules],  # a list: the order (trivial first) survives ML Metadata
        "best": best.name,
        "margin": needed,
        "passed": passed,
        "seconds": round(time.perf_counter() - started, 1),
    }


class EvaluatorSpec(standard_component_specs.EvaluatorSpec):
    """TFX's Evaluator spec, plus the previous span's examples and the noise and traffic parameters."""

    PARAMETERS = {
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        NOISE_Z_KEY: ExecutionParameter(type=float, optional=True),
        PREVIOUS_TRAFFIC_KEY: ExecutionParameter(type=str, optional=True),
        PREVIOUS_TOLERANCE_KEY: ExecutionParameter(type=float, optional=True),
        TRIVIAL_KEY: ExecutionParameter(type=int, optional=True),
        TRIVIAL_MARGIN_KEY: ExecutionParameter(type=float, optional=True),
    }
    INPUTS = {
        **standard_component_specs.EvaluatorSpec.INPUTS,
        PREVIOUS_EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }


class Evaluator(base_beam_component.BaseBeamComponent):
    """TFX's Evaluator with a noise-aware no-regression margin and a check on yesterday's traffic."""

    SPEC_CLASS = EvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        eval_config: tfma.EvalConfig,
        example_splits: list[str],
        baseline_model: types.BaseChannel | None = None,
        previous_examples: types.BaseChannel | None = None,
        noise_z: float = 1.0,
        previous_traffic: str = "compare",
        previous_tolerance: float = 0.05,
        trivial: bool = True,
        trivial_margin: float | None = None,
    ) -> None:
        """Build the component.

        Args:
            examples: today's examples (their ``example_splits`` are evaluated).
            model: the candidate (Trainer).
            eval_config: the task's TFMA config (metrics and thresholds).
            example_splits: the splits to evaluate on.
            baseline_model: the last blessed model (optional; the no-regression thresholds need it).
            previous_examples: the last validated span's examples (optional): yesterday's traffic.
            noise_z: standard errors of margin on every no-regression threshold (0: the configured margins).
            previous_traffic: ``compare`` (a candidate much worse there is not blessed), ``gone`` (record
                only) or ``off`` (not evaluated).
            previous_tolerance: how much worse, relatively, the candidate may be on yesterday's traffic.
            trivial: judge the candidate against the majority class (or mean) and the best one-column rule.
            trivial_margin: by how much it must beat the best of them (None: ``noise_z`` standard errors).
        """
        if previous_traffic not in TRAFFIC_MODES:
            raise ValueError(f"previous_traffic={previous_traffic!r} is not one of {TRAFFIC_MODES}")
        spec = EvaluatorSpec(
            examples=examples,
            model=model,
            baseline_model=baseline_model,
            previous_examples=previous_examples,
            eval_config=eval_config,
            example_splits=json_utils.dumps(example_splits),
            noise_z=float(noise_z),
            previous_traffic=previous_traffic,
            previous_tolerance=float(previous_tolerance),
            trivial=int(trivial),
            trivial_margin=-1.0 if trivial_margin is None else float(trivial_margin),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        )
        super().__init__(spec=spec)
