"""Pipeline runs shared by the e2e tests (each runs once per session; serving e2e reuses the pushed models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import apply_overrides
from pipelines.local_runner import run_pipeline


@pytest.fixture(scope="session")
def mnist_run(mnist_data_dir: str, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The MNIST pipeline on the fixture: (summary, output dir, config)."""
    from pipelines.mnist.config import MnistConfig
    from pipelines.mnist.pipeline import create_pipeline

    output_dir = str(tmp_path_factory.mktemp("mnist_run"))
    config = apply_overrides(
        MnistConfig(), [f"data.data_dir={mnist_data_dir}", "training.epochs=5", "eval.min_accuracy=0.6"]
    )
    summary = run_pipeline("mnist", create_pipeline, config, output_dir, quiet=True)
    return summary, output_dir, config


@pytest.fixture(scope="session")
def ticket_run(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The ticket pipeline on 800 generated tickets, with the difficulty head: (summary, output dir)."""
    from pipelines.ticket.config import TicketConfig
    from pipelines.ticket.pipeline import create_pipeline

    config = apply_overrides(
        TicketConfig(),
        [
            "data.num_examples=800",
            "data.seed=11",
            "training.epochs=6",
            "training.batch_size=32",
            "model.difficulty_head=true",
            "eval.min_department_accuracy=0.4",
            "eval.max_priority_rmse=0.3",
        ],
    )
    output_dir = tmp_path_factory.mktemp("ticket_run")
    return run_pipeline("ticket", create_pipeline, config, str(output_dir), quiet=True), output_dir


@pytest.fixture(scope="session")
def cifar10_run(cifar10_data_dir: str, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The CIFAR-10 pipeline (augmentation on) on the fixture: (summary, output dir, config)."""
    from pipelines.cifar10.config import Cifar10Config
    from pipelines.cifar10.pipeline import create_pipeline

    config = apply_overrides(
        Cifar10Config(),
        [f"data.data_dir={cifar10_data_dir}", "training.epochs=10", "training.batch_size=16", "eval.min_accuracy=0.3"],
    )
    output_dir = Path(tmp_path_factory.mktemp("cifar10_run"))
    return run_pipeline("cifar10", create_pipeline, config, str(output_dir), quiet=True), output_dir, config
