"""Pipeline runs shared by the e2e tests (each runs once per session; serving e2e reuses the pushed models)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines import tasks
from pipelines.config import apply_overrides
from pipelines.local_runner import run_pipeline
from pipelines.run_summary import RunSummary

# Small, quick runs that still learn the fixtures (chance is 0.1 for images, 0.25 for departments).
# The fixtures' eval splits hold 20 to 40 images: under the image tasks' validation.min_rows (100).
IMAGE_RUNS = {
    # MNIST also runs the Tuner (2 one-epoch trials) and exports TensorFlow Lite.
    "mnist": [
        "training.epochs=5",
        "eval.min_accuracy=0.6",
        "tuning.enabled=true",
        'tuning.optimizers=["sgd", "adam"]',
        "tuning.learning_rates=[0.001]",
        "tuning.max_trials=2",
        "tuning.epochs=1",
        "export.tflite=true",
        "validation.min_rows=10",
    ],
    "fashion_mnist": [
        'data.splits={"train": "train[20%:]", "eval": "train[:20%]", "test": "test"}',
        "training.epochs=5",
        "eval.min_accuracy=0.6",
        "validation.min_rows=10",
    ],
    "cifar10": ["training.epochs=10", "training.batch_size=16", "eval.min_accuracy=0.3", "validation.min_rows=10"],
}
# The ticket run is also span 1 of the continuous-training story (test_continuous_training_e2e.py),
# which goes on in the same output directory with spans 2 and 3. Each span is a file of tf.Examples
# (TFRecord, gzip) that `tfx-keras data generate` writes into the input folder, as a daily export
# would land there (penguin's e2e reads CSV, the tests' tabular task Parquet).
TICKET_RUN = [
    "data.format=tfrecord",
    "data.num_examples=1000",
    'data.splits={"train": 0.6, "eval": 0.3, "test": 0.1}',
    "data.window_spans=2",
    "data.seed=7",
    "training.epochs=6",
    "training.batch_size=32",
    "model.difficulty_head=true",
    "eval.min_department_accuracy=0.4",
    "eval.max_priority_rmse=0.3",
]


# The penguin run: TFX's penguin CSV (shipped in the task folder) as span 1 of an input folder.
PENGUIN_RUN = ["training.epochs=40", "eval.min_accuracy=0.9"]


@pytest.fixture(scope="module")
def server(serving_root: Path) -> Iterator[object]:
    """The development server (gRPC and REST on free ports) over the module's ``serving_root``."""
    from helpers.dev_server import serving

    with serving(serving_root, poll_seconds=0.2, rest_api_port=-1) as running:
        yield running


@pytest.fixture()
def client(server: object) -> Iterator[object]:
    """A gRPC client of ``server``."""
    from helpers.dev_server import grpc_client

    with grpc_client(server, timeout=30) as c:
        yield c


def run(task: str, overrides: list[str], output_dir: Path) -> tuple[RunSummary, Path, object]:
    """Run ``task``'s pipeline with ``overrides`` into ``output_dir``: (summary, output dir, config)."""
    spec = tasks.get(task)
    config = apply_overrides(spec.default_config(), overrides)
    return run_pipeline(spec, config, str(output_dir)), output_dir, config


@pytest.fixture(scope="session")
def image_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A factory: the image task's pipeline on its fixture, run once per session per task."""
    runs: dict[str, tuple] = {}

    def get(task: str) -> tuple[RunSummary, Path, object]:
        if task not in runs:
            data_dir = request.getfixturevalue(f"{task}_data_dir")
            runs[task] = run(task, [f"data.data_dir={data_dir}", *IMAGE_RUNS[task]], tmp_path_factory.mktemp(task))
        return runs[task]

    return get


@pytest.fixture(scope="session")
def mnist_run(image_run) -> tuple:  # noqa: ANN001
    """The MNIST pipeline on the fixture: (summary, output dir, config)."""
    return image_run("mnist")


def write_ticket_span(input_base: Path, span: int, *overrides: str) -> Path:
    """Write span ``span`` of the ticket fixture (TICKET_RUN's settings) as TFRecord under ``input_base``."""
    from pipelines.datagen import write_span

    spec = tasks.get("ticket")
    config = apply_overrides(spec.default_config(), [*TICKET_RUN, f"data.span={span}", *overrides])
    return Path(write_span(spec, config, str(input_base), config.data.format, overwrite=True))


@pytest.fixture(scope="session")
def ticket_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ticket task's input folder: one span-<N>/ folder per day."""
    return tmp_path_factory.mktemp("ticket_input")


@pytest.fixture(scope="session")
def ticket_run(ticket_input: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The ticket pipeline on span 1 (1,000 tickets, TFRecord), the difficulty head: (summary, output dir, config)."""
    write_ticket_span(ticket_input, 1)
    return run("ticket", [*TICKET_RUN, f"data.input_base={ticket_input}"], tmp_path_factory.mktemp("ticket_run"))


@pytest.fixture(scope="session")
def penguin_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An input folder holding TFX's penguin data as span 1."""
    from helpers.data import penguin_rows, write_penguin_span

    folder = tmp_path_factory.mktemp("penguin_input")
    write_penguin_span(folder, 1, "csv", penguin_rows())
    return folder


@pytest.fixture(scope="session")
def penguin_run(penguin_input: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The penguin pipeline on span 1: (summary, output dir, config)."""
    return run("penguin", [*PENGUIN_RUN, f"data.input_base={penguin_input}"], tmp_path_factory.mktemp("penguin_run"))
