"""TFMA configuration pieces every task uses: one threshold helper, one single-label classifier config.

A threshold has two parts: an absolute bound on the evaluation split, and a comparison with the last
blessed model (the baseline; absent on the first run). Thresholds apply to the overall slice only:
a ``MetricConfig.threshold`` would apply to every slice, so one hard class would block an otherwise
better model.
"""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from common.contract import EXAMPLE_SIGNATURE, PROBABILITIES


def overall_threshold(
    lower_bound: float | None = None,
    upper_bound: float | None = None,
    max_regression: float = 0.0,
) -> list[tfma.PerSliceMetricThreshold]:
    """A bound on the overall slice, and "no worse than the baseline by more than ``max_regression``".

    Give ``lower_bound`` for a metric where higher is better (accuracy), ``upper_bound`` where lower is
    better (RMSE). ``max_regression`` 0 means no regression at all (a tiny epsilon, as TFMA needs).
    """
    if (lower_bound is None) == (upper_bound is None):
        raise ValueError("give exactly one of lower_bound (higher is better) and upper_bound (lower is better)")
    margin = max(max_regression, 1e-10)
    if lower_bound is not None:
        value = tfma.GenericValueThreshold(lower_bound={"value": lower_bound})
        change = tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -margin}
        )
    else:
        value = tfma.GenericValueThreshold(upper_bound={"value": upper_bound})
        change = tfma.GenericChangeThreshold(direction=tfma.MetricDirection.LOWER_IS_BETTER, absolute={"value": margin})
    threshold = tfma.MetricThreshold(value_threshold=value, change_threshold=change)
    return [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)]


def classifier_eval_config(
    label_key: str,
    min_accuracy: float,
    max_accuracy_drop: float,
    slice_by_label: bool = True,
) -> tfma.EvalConfig:
    """TFMA config of a single-label classifier on raw integer labels: accuracy >= bound and no regression."""
    slicing = [tfma.SlicingSpec()]
    if slice_by_label:
        slicing.append(tfma.SlicingSpec(feature_keys=[label_key]))
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=EXAMPLE_SIGNATURE,
                label_key=label_key,
                prediction_key=PROBABILITIES,
                preprocessing_function_names=[],
            )
        ],
        slicing_specs=slicing,
        # The model's compiled loss/metrics expect transformed (one-hot) labels;
        # TFMA sees raw labels, so it computes only the metrics configured here.
        options=tfma.Options(include_default_metrics={"value": False}),
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(
                        class_name="SparseCategoricalAccuracy",
                        per_slice_thresholds=overall_threshold(
                            lower_bound=min_accuracy, max_regression=max_accuracy_drop
                        ),
                    ),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            )
        ],
    )
