"""Test-suite set-up: Keras 2 chosen before anything imports TensorFlow, and shared fixtures."""

from __future__ import annotations

import os
import warnings

from pipelines.keras_config import configure_keras

configure_keras()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", category=FutureWarning)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def mnist_raw_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Small, learnable MNIST-format IDX files (200 train / 50 test) made by the project."""
    from components.tfds_import import make_mnist_fixture

    return str(make_mnist_fixture(tmp_path_factory.mktemp("mnist_raw"), train=200, test=50))


@pytest.fixture(scope="session")
def mnist_data_dir(mnist_raw_dir: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A TFDS data_dir holding the fixture imported as `mnist` through the offline import."""
    from components.tfds_import import import_mnist

    data_dir = tmp_path_factory.mktemp("tfds")
    import_mnist(mnist_raw_dir, data_dir)
    return str(data_dir)


@pytest.fixture(scope="session")
def cifar10_data_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A TFDS data_dir holding a small CIFAR-10 fixture (binary batches, 40 per file) imported as `cifar10`."""
    from components.tfds_import import import_cifar10, make_cifar10_fixture

    raw = make_cifar10_fixture(tmp_path_factory.mktemp("cifar_raw"), per_file=40)
    data_dir = tmp_path_factory.mktemp("tfds_cifar")
    import_cifar10(raw, data_dir)
    return str(data_dir)
