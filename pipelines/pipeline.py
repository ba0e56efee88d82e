"""The pipeline of any task: a pure factory that only wires components from the task's spec.

ExampleGen (TFDS reader or generator; one span per run) -> StatisticsGen -> ImportSchemaGen (the
task's curated schema) -> DataValidator (every split against the schema, the new span against the
last validated one; anomalies stop the run here) -> Transform -> Trainer -> Resolver (latest
blessed model) -> Evaluator -> InfraValidator (the candidate served and asked over gRPC and REST) ->
Pusher (blessed and infra-blessed only; the model with its warmup requests).

Runners (local, Kubeflow v2) own paths, metadata and Beam arguments and pass them in.

Long because the one place the component chain is wired, in the order it runs; split, the DAG would be scattered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from ml_metadata.proto import metadata_store_pb2
from tfx.components import StatisticsGen, Transform
from tfx.dsl.components.base.base_node import BaseNode
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import pusher_pb2, trainer_pb2, transform_pb2
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from common.contract import CONFIG_KEY, TASK_KEY
from common.metadata_names import BASELINE_STATISTICS_ID, PUSHER_ID, RESOLVER_ID, VALIDATOR_ID
from components.atomic_pusher import AtomicPusher
from components.baseline_resolver import BASELINE_SPAN_KEY, DriftBaselineStrategy, LatestBlessedBaselineStrategy
from components.data_validator import DataValidator
from components.data_validator.component import VALIDATED_KEY
from components.epochs_trainer import Trainer
from components.evaluator import Evaluator
from components.file_example_gen import file_example_gen
from components.generator_example_gen import GeneratorExampleGen
from components.infra_validator import InfraValidator
from components.schema_importer import ImportSchemaGen
from components.span_window import ValidatedSpanWindowStrategy
from components.tfds_example_gen import TFDSExampleGen
from components.tuner import Tuner
from pipelines import tasks
from pipelines.config import JUDGING_SECTIONS, RUNNER_SECTIONS, ConfigError, TaskConfig, to_json
from pipelines.schema import schema_columns
from pipelines.spec import FileSource, GeneratorSource, TaskSpec, TfdsSource

ORCHESTRATORS = ("local", "kubeflow_v2")
WINDOW_ID = "span_window"
TRAINER_RUN_FN = "pipelines.training.run_fn"
TUNER_FN = "pipelines.tuning.tuner_fn"


def reads_files(spec: TaskSpec, config: TaskConfig) -> bool:
    """True if this run's examples come from files (a file task, or a generator or image task given ``input_base``)."""
    return isinstance(spec.source, FileSource) or bool(getattr(config.data, "input_base", None))


def example_gen(spec: TaskSpec, config: TaskConfig, use_schema: bool = True) -> BaseNode:
    """The task's ExampleGen, from its data source and the config's ``data`` section.

    Args:
        spec: the task.
        config: its configuration.
        use_schema: type and check file columns by the curated schema (False: infer them, for a first schema).
    """
    from pipelines.image_classification import ImageDeclaration

    data = config.data
    if reads_files(spec, config):
        if not data.input_base:
            raise ConfigError(
                f"task {spec.name} reads files: give their folder with --input-base DIR (or --set data.input_base=DIR)"
            )
        images = isinstance(spec.declaration, ImageDeclaration)  # an image task's own images (or TFRecord files)
        columns = schema_columns(spec.schema_file) if use_schema else None
        if data.partition_feature and columns is not None:
            names = [c.name for c in columns]
            if data.partition_feature not in names:
                raise ConfigError(
                    f"data.partition_feature={data.partition_feature!r} is not a column of the curated schema "
                    f"{spec.schema_file}: give one of {', '.join(names)} (an id, so that a row's split never changes)"
                )
        return file_example_gen(
            data.format,
            data.input_base,
            data.file_pattern if images else data.pattern,
            dict(data.splits),
            span=data.span,
            columns=columns,
            list_delimiter=getattr(data, "list_delimiter", "|"),
            partition_feature=data.partition_feature,
            allow_duplicate_spans=data.allow_duplicate_spans,
            window_spans=data.window_spans,
            class_names=spec.declaration.class_names if images else None,
            image_shape=spec.declaration.image_shape if images else None,
        )
    if isinstance(spec.source, TfdsSource):
        return TFDSExampleGen(
            dataset=spec.source.dataset,
            splits=dict(data.splits),
            version=data.version,
            data_dir=data.data_dir,
            download=data.download,
        )
    if isinstance(spec.source, GeneratorSource):
        return GeneratorExampleGen(
            generator=spec.source.module,
            num_examples=data.num_examples,
            splits={name: float(share) for name, share in data.splits.items()},
            seed=data.seed,
            shard_size=data.shard_size,
            options=data.generator_options(),
            span=data.span or 0,
        )
    raise TypeError(f"task {spec.name}: unknown data source {spec.source!r}")


def standard_components(
    spec: TaskSpec,
    config: TaskConfig,
    serving_model_dir: str,
    orchestrator: str = "local",
    epochs: Any = None,
    schema_file: str | None = None,
) -> list[BaseNode]:
    """Every component of the task's pipeline, ExampleGen first.

    Args:
        spec: the task.
        config: the task's validated configuration.
        serving_model_dir: ``<serving_root>/<task>``; blessed models go to ``<version>/`` below it.
        schema_file: the curated schema as the components will read it (default: the task's, here).
        orchestrator: ``local`` (LocalDagRunner) or ``kubeflow_v2`` (KubeflowV2DagRunner / Vertex AI).
            Kubeflow v2 compiles only TFX's own ``LatestBlessedModelStrategy``; there it resolves the
            baseline when the run starts, so the candidate cannot be its own baseline anyway.
        epochs: overrides ``training.epochs``; a ``RuntimeParameter`` makes it a pipeline input.
    """
    if orchestrator not in ORCHESTRATORS:
        raise ValueError(f"orchestrator {orchestrator!r} is not one of {ORCHESTRATORS}")
    train_split, eval_split = config.data.train_split, config.data.eval_split
    examples = example_gen(spec, config)
    schema_gen = ImportSchemaGen(schema_file=schema_file or spec.schema_file, local_schema_file=spec.schema_file)
    # Given the schema, TFDV gives an integer marked categorical (a class id) categorical statistics, so its
    # drift comparator and the vanished-value check measure something (without: numeric statistics, L-inf 0).
    statistics_gen = StatisticsGen(examples=examples.outputs["examples"], schema=schema_gen.outputs["schema"])
    # The drift baseline: validated statistics of an earlier run, by the rule of
    # components.baseline_resolver.select_drift_baseline (the data of the serving model, or a pinned span).
    # Locally only: Kubeflow v2 compiles a resolver's query by artifact type alone, which cannot tell
    # this pipeline's validated statistics from any other's (there the drift check is skipped).
    baseline: list[BaseNode] = []
    if orchestrator == "local":
        previous_statistics = Resolver(
            strategy_class=DriftBaselineStrategy,
            config={}
            if config.validation.baseline_span is None
            else {BASELINE_SPAN_KEY: config.validation.baseline_span},
            statistics=Channel(
                type=standard_artifacts.ExampleStatistics,
                producer_component_id=VALIDATOR_ID,
                output_key=VALIDATED_KEY,
            ),
            current=statistics_gen.outputs["statistics"],
            # and the examples those statistics were computed from: yesterday's traffic, for the Evaluator
            examples=Channel(type=standard_artifacts.Examples, producer_component_id=examples.id),
            pushed_model=Channel(type=standard_artifacts.PushedModel, producer_component_id=PUSHER_ID),
        ).with_id(BASELINE_STATISTICS_ID)
        baseline = [previous_statistics]
    data_validator = DataValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        baseline_statistics=previous_statistics.outputs["statistics"] if baseline else None,
        baseline_model=previous_statistics.outputs["pushed_model"] if baseline else None,
        examples=examples.outputs["examples"],
        allow_anomalies=config.validation.allow_anomalies,
        drift_split=config.validation.drift_split,
        min_rows=config.validation.min_rows,
        baseline_span=config.validation.baseline_span,
        schema_source=schema_file or spec.schema_file,
    ).with_id(VALIDATOR_ID)
    training_examples, window = examples.outputs["examples"], []
    if getattr(config.data, "window_spans", 1) > 1:
        if orchestrator != "local":
            raise ValueError(
                f"data.window_spans={config.data.window_spans}: a window of validated spans needs a resolver "
                "that reads ML Metadata's lineage, which Kubeflow v2 does not compile; use window_spans=1 there"
            )
        # The newest window_spans spans read, of which only those that passed validation (this run's too).
        span_window = Resolver(
            strategy_class=ValidatedSpanWindowStrategy,
            config={"num_spans": config.data.window_spans},
            examples=Channel(type=standard_artifacts.Examples, producer_component_id=examples.id),
            validated=Channel(
                type=standard_artifacts.ExampleStatistics,
                producer_component_id=VALIDATOR_ID,
                output_key=VALIDATED_KEY,
            ),
            current=examples.outputs["examples"],
        ).with_id(WINDOW_ID)
        span_window.add_upstream_node(data_validator)  # this run's span is validated before the window is read
        training_examples, window = span_window.outputs["examples"], [span_window]
    transform = Transform(
        examples=training_examples,
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=spec.preprocessing_fn,
        custom_config={
            TASK_KEY: tasks.reference(spec),  # the task's module: Transform finds it by this path
            CONFIG_KEY: to_json(config, JUDGING_SECTIONS | RUNNER_SECTIONS),
        },  # for a preprocessing_fn that reads them
        splits_config=transform_pb2.SplitsConfig(analyze=[train_split], transform=[train_split, eval_split]),
        disable_statistics=True,
    )
    transform.add_upstream_node(data_validator)  # the gate: nothing is transformed unless the data passed
    training_inputs = {
        "examples": transform.outputs["transformed_examples"],
        "transform_graph": transform.outputs["transform_graph"],
        "schema": schema_gen.outputs["schema"],
        "train_args": trainer_pb2.TrainArgs(splits=[train_split]),
        "eval_args": trainer_pb2.EvalArgs(splits=[eval_split]),
        "custom_config": {
            TASK_KEY: tasks.reference(spec),
            CONFIG_KEY: to_json(config, JUDGING_SECTIONS | RUNNER_SECTIONS),
        },
    }
    tuning: list[BaseNode] = []
    if config.tuning.enabled:  # searches optimizer and learning rate; the Trainer takes the best
        tuner = Tuner(tuner_fn=TUNER_FN, **training_inputs)
        training_inputs["hyperparameters"] = tuner.outputs["best_hyperparameters"]
        tuning = [tuner]
    trainer = Trainer(epochs=epochs, run_fn=TRAINER_RUN_FN, **training_inputs)
    baselines = {
        "model": Channel(type=standard_artifacts.Model),
        "model_blessing": Channel(type=standard_artifacts.ModelBlessing),
    }
    if orchestrator == "local":
        model_resolver = Resolver(
            strategy_class=LatestBlessedBaselineStrategy, candidate=trainer.outputs["model"], **baselines
        )
    else:
        model_resolver = Resolver(strategy_class=LatestBlessedModelStrategy, **baselines)
    model_resolver = model_resolver.with_id(RESOLVER_ID)
    evaluator = Evaluator(
        examples=examples.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        previous_examples=previous_statistics.outputs["examples"] if baseline else None,
        example_splits=[eval_split],
        eval_config=spec.eval_config(config),
        noise_z=config.evaluator.noise_z,
        previous_traffic=config.evaluator.previous_traffic,
        previous_tolerance=config.evaluator.previous_tolerance,
        trivial=config.evaluator.trivial_baseline,
        trivial_margin=config.evaluator.trivial_margin,
    )
    # Tried in a real server before it may be pushed; the Pusher pushes the model it tried (with warmup requests).
    infra_validator = InfraValidator(
        model=trainer.outputs["model"],
        examples=examples.outputs["examples"],
        model_blessing=evaluator.outputs["blessing"],
        split=eval_split,
        num_examples=config.infra.num_examples,
        timeout_seconds=config.infra.timeout_seconds,
        max_latency_ms=config.infra.max_latency_ms,
        max_memory_mb=config.infra.max_memory_mb,
        contract=json.dumps(spec.serving(config).output_contract(), sort_keys=True),
    )
    pusher = AtomicPusher(
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra_validator.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=serving_model_dir)
        ),
    )
    return [
        examples,
        statistics_gen,
        schema_gen,
        *baseline,
        data_validator,
        *window,
        transform,
        *tuning,
        trainer,
        model_resolver,
        evaluator,
        infra_validator,
        pusher,
    ]


def create_pipeline(
    spec: TaskSpec,
    config: TaskConfig,
    pipeline_root: str,
    serving_root: str,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
    beam_pipeline_args: Sequence[str] | None = None,
    enable_cache: bool = True,
    orchestrator: str = "local",
    epochs: Any = None,
    pipeline_name: str | None = None,
    schema_file: str | None = None,
) -> Pipeline:
    """The task's TFX pipeline.

    Args:
        spec: the task.
        config: the task's validated configuration.
        pipeline_root: where component outputs go.
        serving_root: blessed models are pushed to ``<serving_root>/<task>/<version>/``.
        metadata_connection_config: ML Metadata connection (the runner decides).
        beam_pipeline_args: Beam arguments (the runner decides).
        enable_cache: reuse outputs of components whose inputs did not change.
        orchestrator: ``local`` or ``kubeflow_v2`` (see :func:`standard_components`).
        epochs: overrides ``training.epochs`` (an int, or a ``RuntimeParameter`` on Kubeflow).
        pipeline_name: the name in ML Metadata (default: the task's; Kubeflow needs ``[a-z0-9-]``).
        schema_file: the curated schema as the components read it (Kubeflow: its path in the image).

    Raises:
        ConfigError: the config asks for something this task cannot do (``export.tflite`` without a
            TFLite function).
    """
    if spec.check_schema is not None and os.path.isfile(spec.schema_file):
        problems = spec.check_schema(spec.schema_file)
        if problems:
            raise ConfigError(
                f"the declaration of {spec.name} and its curated schema {spec.schema_file} disagree:\n  "
                + "\n  ".join(problems)
            )
    if config.export.tflite and spec.tflite is None:
        raise ConfigError(
            f"export.tflite=True is invalid for {spec.name}: this task has no TensorFlow Lite export "
            "(its Transform graph needs ops TFLite lacks); the image tasks have one."
        )
    return Pipeline(
        pipeline_name=pipeline_name or spec.name,
        pipeline_root=pipeline_root,
        components=standard_components(
            spec,
            config,
            os.path.join(serving_root, spec.name),
            orchestrator=orchestrator,
            epochs=epochs,
            schema_file=schema_file,
        ),
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or []),
        enable_cache=enable_cache,
    )
