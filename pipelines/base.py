"""The component chain every task pipeline shares.

ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform ->
Trainer -> Resolver (latest blessed model) -> Evaluator -> Pusher.

A task supplies its ExampleGen, the dotted paths of its ``preprocessing_fn``
and ``run_fn``, its TFMA EvalConfig and its TrainingConfig. Runners (local,
Kubeflow v2) own paths, metadata and Beam arguments.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx
from tfx.dsl.components.base.base_node import BaseNode

from components.atomic_pusher import AtomicPusher
from components.baseline_resolver import LatestBlessedBaselineStrategy
from components.epochs_trainer import Trainer
from components.tfds_example_gen import TFDSExampleGen
from pipelines.config import TrainingConfig
from pipelines.training import TRAINING_CONFIG_KEY

ORCHESTRATORS = ("local", "kubeflow_v2")


def standard_components(
    example_gen: BaseNode,
    preprocessing_fn: str,
    run_fn: str,
    eval_config: tfma.EvalConfig,
    training: TrainingConfig,
    serving_model_dir: str,
    train_split: str = "train",
    eval_split: str = "eval",
    custom_config: Mapping[str, str] | None = None,
    orchestrator: str = "local",
    epochs: Any = None,
) -> list[BaseNode]:
    """Wire the standard chain after ``example_gen``.

    Args:
        example_gen: the task's ExampleGen (its output is ``outputs['examples']``).
        preprocessing_fn: dotted path of the Transform ``preprocessing_fn``.
        run_fn: dotted path of the Trainer ``run_fn``.
        eval_config: TFMA configuration with thresholds (absolute and vs. baseline).
        training: training hyper-parameters, passed to ``run_fn`` via ``custom_config``.
        serving_model_dir: ``<serving_root>/<task>``; blessed models go to ``<version>/`` below it.
        train_split: the split Transform analyses and the Trainer fits.
        eval_split: the split the Trainer validates on and the Evaluator evaluates.
        custom_config: more task settings for ``run_fn`` (JSON strings), besides the TrainingConfig.
        orchestrator: ``local`` (LocalDagRunner) or ``kubeflow_v2`` (KubeflowV2DagRunner / Vertex AI).
            Kubeflow v2 compiles only TFX's own ``LatestBlessedModelStrategy``; there it resolves the
            baseline when the run starts, so the candidate cannot be its own baseline anyway.
        epochs: overrides ``training.epochs``; a ``RuntimeParameter`` makes it a pipeline input.

    Returns:
        All components, ExampleGen first.
    """
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=preprocessing_fn,
        splits_config=tfx.proto.SplitsConfig(analyze=[train_split], transform=[train_split, eval_split]),
        disable_statistics=True,
    )
    if orchestrator not in ORCHESTRATORS:
        raise ValueError(f"orchestrator {orchestrator!r} is not one of {ORCHESTRATORS}")
    trainer = Trainer(
        epochs=epochs,
        run_fn=run_fn,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=[train_split]),
        eval_args=tfx.proto.EvalArgs(splits=[eval_split]),
        custom_config={TRAINING_CONFIG_KEY: training.to_json(), **(custom_config or {})},
    )
    baselines = {
        "model": tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        "model_blessing": tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    }
    if orchestrator == "local":
        model_resolver = tfx.dsl.Resolver(
            strategy_class=LatestBlessedBaselineStrategy, candidate=trainer.outputs["model"], **baselines
        )
    else:
        model_resolver = tfx.dsl.Resolver(strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy, **baselines)
    model_resolver = model_resolver.with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        example_splits=[eval_split],
        eval_config=eval_config,
    )
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)
        ),
    )
    return [
        example_gen,
        statistics_gen,
        schema_gen,
        example_validator,
        transform,
        trainer,
        model_resolver,
        evaluator,
        pusher,
    ]


def accuracy_eval_config(
    label_key: str,
    min_accuracy: float,
    max_accuracy_drop: float,
    prediction_key: str = "probabilities",
    slice_by_label: bool = True,
) -> tfma.EvalConfig:
    """TFMA config of a single-label classifier: accuracy >= ``min_accuracy`` and no regression.

    The candidate is blessed only if its accuracy on the evaluation split is at
    least ``min_accuracy`` *and* at most ``max_accuracy_drop`` below the latest
    blessed model's (the baseline; absent on the first run).
    """
    threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -max(max_accuracy_drop, 1e-10)}
        ),
    )
    slicing = [tfma.SlicingSpec()]
    if slice_by_label:
        slicing.append(tfma.SlicingSpec(feature_keys=[label_key]))
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                label_key=label_key,
                prediction_key=prediction_key,
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
                    # Thresholds on the overall slice only: a `threshold` would apply to every
                    # slice, so one hard digit would block an otherwise better model.
                    tfma.MetricConfig(
                        class_name="SparseCategoricalAccuracy",
                        per_slice_thresholds=[
                            tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)
                        ],
                    ),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            )
        ],
    )


def tfds_classification_pipeline(
    task: str,
    package: str,
    config: Any,
    pipeline_root: str,
    serving_root: str,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
    beam_pipeline_args: Sequence[str] | None = None,
    enable_cache: bool = True,
    pipeline_name: str | None = None,
    label_key: str = "label",
    orchestrator: str = "local",
    epochs: Any = None,
) -> tfx.dsl.Pipeline:
    """The pipeline of a single-label classification task read from TFDS (MNIST, CIFAR-10).

    Args:
        task: task name: the serving model name and the default pipeline name.
        package: the task's package; its ``preprocessing.preprocessing_fn`` and
            ``trainer.run_fn`` are passed to Transform and Trainer by dotted path.
        config: the task config (``data``, ``training`` and ``eval`` sections).
        pipeline_root: where component outputs go.
        serving_root: blessed models are pushed to ``<serving_root>/<task>/<version>/``.
        metadata_connection_config: ML Metadata connection (the runner decides).
        beam_pipeline_args: Beam arguments (the runner decides).
        enable_cache: reuse outputs of components whose inputs did not change.
        pipeline_name: name in ML Metadata (default: ``task``).
        label_key: the raw label feature.
        orchestrator: ``local`` or ``kubeflow_v2`` (see ``standard_components``).
        epochs: overrides ``training.epochs`` (an int, or a ``RuntimeParameter`` on Kubeflow).
    """
    data = config.data
    example_gen = TFDSExampleGen(
        dataset=data.dataset,
        splits=dict(data.splits),
        version=data.version,
        data_dir=data.data_dir,
        download=data.download,
    )
    components = standard_components(
        example_gen,
        preprocessing_fn=f"{package}.preprocessing.preprocessing_fn",
        run_fn=f"{package}.trainer.run_fn",
        eval_config=accuracy_eval_config(label_key, config.eval.min_accuracy, config.eval.max_accuracy_drop),
        training=config.training,
        serving_model_dir=os.path.join(serving_root, task),
        train_split=data.train_split,
        eval_split=data.eval_split,
        orchestrator=orchestrator,
        epochs=epochs,
    )
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name or task,
        pipeline_root=pipeline_root,
        components=components,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or []),
        enable_cache=enable_cache,
    )
