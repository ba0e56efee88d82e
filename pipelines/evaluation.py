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


def classification_metrics_specs(
    output_name: str | None, num_classes: int, min_accuracy: float, max_accuracy_drop: float, auc: bool = True
) -> list[tfma.MetricsSpec]:
    """TFMA metrics of a softmax head on one-hot labels: accuracy (the thresholds), per-class recall and AUC.

    The accuracy must reach ``min_accuracy`` and drop at most ``max_accuracy_drop`` below the last
    blessed model's; each class's recall (and one-vs-rest AUC) is reported, with no threshold.
    ``output_name`` selects the head of a multi-output model (None: the model has one output).
    """
    outputs = [output_name] if output_name else []
    per_class = [tfma.MetricConfig(class_name="Recall")]
    if auc:
        per_class.append(tfma.MetricConfig(class_name="AUC"))
    return [
        tfma.MetricsSpec(
            output_names=outputs,
            metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                tfma.MetricConfig(
                    class_name="CategoricalAccuracy",
                    per_slice_thresholds=overall_threshold(lower_bound=min_accuracy, max_regression=max_accuracy_drop),
                ),
                tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
            ],
        ),
        tfma.MetricsSpec(
            output_names=outputs,
            binarize=tfma.BinarizationOptions(class_ids={"values": list(range(num_classes))}),
            metrics=per_class,
        ),
    ]


def regression_metrics_specs(
    output_name: str | None, max_rmse: float, max_rmse_increase: float
) -> list[tfma.MetricsSpec]:
    """TFMA metrics of a regression head: RMSE (at most ``max_rmse``, no worse than the baseline) and MAE.

    ``output_name`` selects the head of a multi-output model (None: the model has one output).
    """
    return [
        tfma.MetricsSpec(
            output_names=[output_name] if output_name else [],
            metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                tfma.MetricConfig(
                    class_name="RootMeanSquaredError",
                    per_slice_thresholds=overall_threshold(upper_bound=max_rmse, max_regression=max_rmse_increase),
                ),
                tfma.MetricConfig(class_name="MeanAbsoluteError"),
            ],
        )
    ]
