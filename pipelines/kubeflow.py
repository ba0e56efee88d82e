"""Compile the task pipelines for Kubeflow Pipelines v2 / Vertex AI, and submit them to Vertex.

Settings come from one JSON file (``--cloud-config``) and/or flags, never from code:

    {"project": "my-project", "region": "europe-west4", "bucket": "gs://my-bucket",
     "image": "europe-west4-docker.pkg.dev/my-project/tfx/tfx-keras:0.1.0",
     "dataflow_workers": 4, "service_account": "pipelines@my-project.iam.gserviceaccount.com"}

``compile`` writes one KFP v2 ``PipelineJob`` spec per task with ``KubeflowV2DagRunner``:
every component runs the project's image, outputs go under ``<bucket>/pipelines/<task>``,
Beam components run on Dataflow, blessed models go to ``<bucket>/serving/<task>/<version>/``,
and ``epochs`` is a runtime parameter. ``submit`` starts a compiled spec on Vertex AI Pipelines
with ``google.cloud.aiplatform.PipelineJob``.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field, field_validator

from common.settings import ConfigError, Settings, validate
from pipelines import tasks
from pipelines.config import apply_overrides

PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]$")
EPOCHS_PARAMETER = "epochs"


class CloudConfig(Settings):
    """Where and how the pipelines run on Google Cloud; every setting is checked when it is built."""

    project: str = ""
    region: str = "us-central1"
    bucket: str = ""  # gs://... : pipeline root, Dataflow temp, serving root and TFDS data live under it
    image: str = ""  # the project's image (Dockerfile), pushed to a registry the pipeline can pull
    dataflow_workers: int = Field(2, ge=1)
    dataflow_machine_type: str = "n1-standard-4"
    service_account: str = ""  # runs the pipeline (Vertex) and the Dataflow workers; empty: the defaults
    tfds_data_dir: str = ""  # default <bucket>/tensorflow_datasets
    data_root: str = ""  # tasks that read files read <data_root>/<task>/ (span-<N>/ folders); default <bucket>/data
    download: bool = True  # let TFDS download data sets into tfds_data_dir (the cloud has network)
    # Where the Dockerfile copies the project in the image: the components read the tasks' curated
    # schemas (pipelines/<task>/schema.pbtxt) from there.
    image_project_root: str = "/opt/tfx-keras"

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not PROJECT_RE.match(value):
            raise ValueError("a Google Cloud project id (6-30 of a-z, 0-9, -)")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not REGION_RE.match(value):
            raise ValueError("a region such as us-central1 or europe-west4")
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not value.startswith("gs://") or len(value) <= len("gs://"):
            raise ValueError("a Cloud Storage path, gs://BUCKET[/PREFIX]")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not value or ":" not in value.rsplit("/", 1)[-1] and "@" not in value:
            raise ValueError("the pushed project image with a tag, REGISTRY/NAME:TAG")
        return value

    @field_validator("tfds_data_dir", "data_root")
    @classmethod
    def _cloud_path(cls, value: str) -> str:
        if value and not value.startswith("gs://"):
            raise ValueError("a gs:// path (workers cannot see local disks)")
        return value

    @property
    def pipeline_root(self) -> str:
        """``<bucket>/pipelines``: component outputs, one folder per task."""
        return f"{self.bucket.rstrip('/')}/pipelines"

    @property
    def serving_root(self) -> str:
        """``<bucket>/serving``: blessed models, ``<task>/<version>/`` (TF Serving's layout)."""
        return f"{self.bucket.rstrip('/')}/serving"

    @property
    def temp_location(self) -> str:
        """Dataflow's temp location."""
        return f"{self.bucket.rstrip('/')}/tmp"

    def beam_pipeline_args(self) -> list[str]:
        """Beam arguments for Dataflow."""
        args = [
            "--runner=DataflowRunner",
            f"--project={self.project}",
            f"--region={self.region}",
            f"--temp_location={self.temp_location}",
            f"--num_workers={self.dataflow_workers}",
            f"--max_num_workers={self.dataflow_workers}",
            f"--machine_type={self.dataflow_machine_type}",
            # Workers run the project's image, so Beam stages of Transform and the ExampleGens
            # import the same pinned code as the components.
            f"--sdk_container_image={self.image}",
            "--experiments=use_runner_v2",
        ]
        if self.service_account:
            args.append(f"--service_account_email={self.service_account}")
        return args


def load_cloud_config(path: str | None = None, overrides: Mapping[str, Any] | None = None) -> CloudConfig:
    """A CloudConfig from a JSON file and/or flag values (flags win); validated."""
    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"cannot read cloud config {path}: {err}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"cloud config {path} must be a JSON object of settings, as cloud.example.json is")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return validate(CloudConfig, values)


def build_kubeflow_pipeline(task: str, cloud: CloudConfig, overrides: Sequence[str] = ()) -> Any:
    """The task's TFX pipeline as it runs on Kubeflow v2 / Vertex (not compiled yet)."""
    from tfx.orchestration import data_types

    from pipelines.pipeline import create_pipeline
    from pipelines.spec import FileSource

    spec = tasks.get(task)
    config = spec.default_config()
    if spec.reads_tfds:
        data_dir = cloud.tfds_data_dir or f"{cloud.bucket.rstrip('/')}/tensorflow_datasets"
        overrides = [f"data.data_dir={data_dir}", f"data.download={str(cloud.download).lower()}", *overrides]
    if isinstance(spec.source, FileSource):  # the files are in the bucket (a generator task: --set data.input_base)
        data_root = cloud.data_root or f"{cloud.bucket.rstrip('/')}/data"
        overrides = [f"data.input_base={data_root.rstrip('/')}/{spec.name}", *overrides]
    config = apply_overrides(config, list(overrides))
    if config.metadata.url:
        raise ConfigError("metadata.url is for `tfx-keras run`: Kubeflow and Vertex AI keep ML Metadata themselves")
    epochs = data_types.RuntimeParameter(name=EPOCHS_PARAMETER, ptype=int, default=config.training.epochs)
    schema_in_image = posixpath.join(cloud.image_project_root, *tasks.path_in_package(spec, spec.schema_file))
    return create_pipeline(
        spec,
        config,
        pipeline_root=f"{cloud.pipeline_root}/{spec.name}",
        serving_root=cloud.serving_root,
        beam_pipeline_args=cloud.beam_pipeline_args(),
        orchestrator="kubeflow_v2",
        epochs=epochs,
        pipeline_name=kfp_name(spec.name),
        schema_file=schema_in_image,
    )


def kfp_name(task: str) -> str:
    """The task name as Kubeflow Pipelines allows it, ``[a-z0-9][a-z0-9-]*``: underscores become hyphens."""
    return task.replace("_", "-")


def compile_pipeline(task: str, cloud: CloudConfig, output_dir: str, overrides: Sequence[str] = ()) -> str:
    """Write ``<output_dir>/<task>_pipeline.json`` (a KFP v2 PipelineJob); returns its path."""
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    os.makedirs(output_dir, exist_ok=True)
    name = tasks.get(task).name  # a task of your own is named by its module path here
    filename = f"{name}_pipeline.json"
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            display_name=f"tfx-keras-{kfp_name(name)}", default_image=cloud.image
        ),
        output_dir=output_dir,
        output_filename=filename,
    )
    runner.run(build_kubeflow_pipeline(task, cloud, overrides))
    return os.path.join(output_dir, filename)


def submit(
    spec_path: str,
    cloud: CloudConfig,
    parameter_values: Mapping[str, Any] | None = None,
    enable_caching: bool = True,
    wait: bool = False,
) -> Any:
    """Start a compiled pipeline on Vertex AI Pipelines; returns the ``PipelineJob``."""
    from google.cloud import aiplatform

    try:
        with open(spec_path, encoding="utf-8") as f:
            spec = json.load(f)
        declared = set(spec["pipelineSpec"]["root"].get("inputDefinitions", {}).get("parameters", {}))
    except OSError as err:
        raise ConfigError(f"cannot read {spec_path} ({err.strerror})") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(
            f"{spec_path} is not a compiled pipeline spec (JSON with a pipelineSpec): give a file that "
            "`tfx-keras compile` wrote"
        ) from None
    unknown = sorted(set(parameter_values or {}) - declared)
    if unknown:
        raise ConfigError(f"{spec_path} has no runtime parameters {unknown}; it has {sorted(declared)}")
    aiplatform.init(project=cloud.project, location=cloud.region)
    job = aiplatform.PipelineJob(
        display_name=spec.get("displayName") or os.path.basename(spec_path),
        template_path=spec_path,
        pipeline_root=spec.get("runtimeConfig", {}).get("gcsOutputDirectory") or cloud.pipeline_root,
        parameter_values=dict(parameter_values or {}),
        enable_caching=enable_caching,
        project=cloud.project,
        location=cloud.region,
    )
    if wait:
        job.run(service_account=cloud.service_account or None, sync=True)
    else:
        job.submit(service_account=cloud.service_account or None)
    return job


CLOUD_FLAGS = (
    "project",
    "region",
    "bucket",
    "image",
    "dataflow_workers",
    "service_account",
    "tfds_data_dir",
    "data_root",
)
