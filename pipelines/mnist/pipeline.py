"""The MNIST pipeline: a pure factory that only wires components."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.tfds_example_gen import TFDSExampleGen
from pipelines.base import accuracy_eval_config, standard_components
from pipelines.mnist.config import LABEL_KEY, TASK, MnistConfig


def create_pipeline(
    config: MnistConfig,
    pipeline_root: str,
    serving_root: str,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
    beam_pipeline_args: Sequence[str] | None = None,
    enable_cache: bool = True,
    pipeline_name: str = TASK,
) -> tfx.dsl.Pipeline:
    """Build the MNIST pipeline.

    Args:
        config: the task configuration.
        pipeline_root: where component outputs go.
        serving_root: blessed models are pushed to ``<serving_root>/mnist/<version>/``.
        metadata_connection_config: ML Metadata connection (the runner decides).
        beam_pipeline_args: Beam arguments (the runner decides).
        enable_cache: reuse outputs of components whose inputs did not change.
        pipeline_name: name in ML Metadata.
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
        preprocessing_fn="pipelines.mnist.preprocessing.preprocessing_fn",
        run_fn="pipelines.mnist.trainer.run_fn",
        eval_config=accuracy_eval_config(LABEL_KEY, config.eval.min_accuracy, config.eval.max_accuracy_drop),
        training=config.training,
        serving_model_dir=os.path.join(serving_root, TASK),
        train_split=data.train_split,
        eval_split=data.eval_split,
    )
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or []),
        enable_cache=enable_cache,
    )
