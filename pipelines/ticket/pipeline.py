"""The ticket triage pipeline: a pure factory that only wires components."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Any

import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.ticket_example_gen import TicketExampleGen
from pipelines.base import standard_components
from pipelines.features import transformed_name
from pipelines.ticket.config import (
    DEPARTMENT_KEY,
    DEPARTMENTS,
    DIFFICULTY_KEY,
    PRIORITY_KEY,
    TASK,
    TicketConfig,
    TicketEvalConfig,
)
from pipelines.ticket.trainer import MODEL_CONFIG_KEY
from serving.export import TRANSFORM_SIGNATURE


def _overall(threshold: tfma.MetricThreshold) -> list[tfma.PerSliceMetricThreshold]:
    return [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)]


def ticket_eval_config(config: TicketEvalConfig, difficulty_head: bool = False) -> tfma.EvalConfig:
    """TFMA per output: department accuracy and per-class recall, priority RMSE and MAE, thresholds on both.

    Labels are the transformed ones (one-hot department, float priority), which
    TFMA gets from the model's ``transform_features`` signature. A model is
    blessed only if department accuracy >= the bound and priority RMSE <= the
    bound on the evaluation split, and neither is worse than the last blessed
    model's by more than the allowed margin.
    """
    heads = [PRIORITY_KEY, DEPARTMENT_KEY] + ([DIFFICULTY_KEY] if difficulty_head else [])
    accuracy = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.min_department_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -max(config.max_department_accuracy_drop, 1e-10)},
        ),
    )
    rmse = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(upper_bound={"value": config.max_priority_rmse}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.LOWER_IS_BETTER,
            absolute={"value": max(config.max_priority_rmse_increase, 1e-10)},
        ),
    )
    metrics_specs = [
        tfma.MetricsSpec(
            output_names=[DEPARTMENT_KEY],
            metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                tfma.MetricConfig(class_name="CategoricalAccuracy", per_slice_thresholds=_overall(accuracy)),
                tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
            ],
        ),
        tfma.MetricsSpec(
            output_names=[DEPARTMENT_KEY],
            binarize=tfma.BinarizationOptions(class_ids={"values": list(range(len(DEPARTMENTS)))}),
            metrics=[tfma.MetricConfig(class_name="Recall")],
        ),
        tfma.MetricsSpec(
            output_names=[PRIORITY_KEY],
            metrics=[
                tfma.MetricConfig(class_name="RootMeanSquaredError", per_slice_thresholds=_overall(rmse)),
                tfma.MetricConfig(class_name="MeanAbsoluteError"),
            ],
        ),
    ]
    if difficulty_head:
        metrics_specs.append(
            tfma.MetricsSpec(
                output_names=[DIFFICULTY_KEY], metrics=[tfma.MetricConfig(class_name="CategoricalAccuracy")]
            )
        )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                label_keys={h: transformed_name(h) for h in heads},
                preprocessing_function_names=[TRANSFORM_SIGNATURE],
            )
        ],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[DEPARTMENT_KEY])],
        options=tfma.Options(include_default_metrics={"value": False}),
        metrics_specs=metrics_specs,
    )


def create_pipeline(
    config: TicketConfig,
    pipeline_root: str,
    serving_root: str,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
    beam_pipeline_args: Sequence[str] | None = None,
    enable_cache: bool = True,
    pipeline_name: str = TASK,
    orchestrator: str = "local",
    epochs: Any = None,
) -> tfx.dsl.Pipeline:
    """Build the ticket pipeline.

    Args:
        config: the task configuration.
        pipeline_root: where component outputs go.
        serving_root: blessed models are pushed to ``<serving_root>/ticket/<version>/``.
        metadata_connection_config: ML Metadata connection (the runner decides).
        beam_pipeline_args: Beam arguments (the runner decides).
        enable_cache: reuse outputs of components whose inputs did not change.
        pipeline_name: name in ML Metadata.
        orchestrator: ``local`` or ``kubeflow_v2`` (see ``pipelines.base.standard_components``).
        epochs: overrides ``training.epochs`` (an int, or a ``RuntimeParameter`` on Kubeflow).
    """
    data = config.data
    example_gen = TicketExampleGen(
        num_examples=data.num_examples, splits=dict(data.splits), seed=data.seed, shard_size=data.shard_size
    )
    components = standard_components(
        example_gen,
        preprocessing_fn="pipelines.ticket.preprocessing.preprocessing_fn",
        run_fn="pipelines.ticket.trainer.run_fn",
        eval_config=ticket_eval_config(config.eval, config.model.difficulty_head),
        training=config.training,
        serving_model_dir=os.path.join(serving_root, TASK),
        train_split=data.train_split,
        eval_split=data.eval_split,
        custom_config={MODEL_CONFIG_KEY: json.dumps(dataclasses.asdict(config.model), sort_keys=True)},
        orchestrator=orchestrator,
        epochs=epochs,
    )
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or []),
        enable_cache=enable_cache,
    )
