"""Test-suite set-up: Keras 2 chosen before anything imports TensorFlow, and shared fixtures.

Markers: ``e2e`` runs whole pipelines; ``slow`` starts processes or trains for real; the unit tests
(``-m "not e2e and not slow"``) run neither and finish in under a minute.
"""

from __future__ import annotations

import itertools
import os
import re
import warnings

from pipelines.keras_config import configure_keras, require_keras2

configure_keras()
require_keras2()  # as the Trainer does: AutoGraph leaves tf_keras alone (seconds per traced function)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore", category=FutureWarning)

import pytest  # noqa: E402
from helpers.data import import_fixture  # noqa: E402


@pytest.fixture(scope="session")
def mnist_data_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A TFDS data_dir holding a small learnable MNIST-format fixture (200 train / 50 test) imported as `mnist`."""
    return import_fixture("mnist", tmp_path_factory.mktemp("mnist"), size=200)


@pytest.fixture(scope="session")
def fashion_mnist_data_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The same kind of fixture imported as `fashion_mnist` (IDX files, 200 train / 50 test)."""
    return import_fixture("fashion_mnist", tmp_path_factory.mktemp("fashion_mnist"), size=200)


@pytest.fixture(scope="session")
def cifar10_data_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small CIFAR-10 fixture (binary batches, 40 images per file) imported as `cifar10`."""
    return import_fixture("cifar10", tmp_path_factory.mktemp("cifar10"), size=40)


_DATABASES = itertools.count()


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - yields helpers.mariadb.MariaDB
    """A real MariaDB server for the session (skipped, with the reason, where MariaDB is not installed)."""
    from helpers.mariadb import mariadb_server, missing_reason

    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with mariadb_server(tmp_path_factory.mktemp("mariadb")) as server:
        yield server


@pytest.fixture()
def mariadb_url(mariadb, request: pytest.FixtureRequest) -> str:  # noqa: ANN001
    """The metadata URL of a new, empty database on the session's MariaDB, for this test alone."""
    name = re.sub(r"\W", "_", request.node.name)
    return mariadb.create_database(f"t{next(_DATABASES)}_{name}"[:64])
