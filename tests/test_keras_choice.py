"""Keras 2 everywhere: the CLI, the Transform and Trainer code, and a clear failure otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipelines.keras_config import keras_version


def _run(code: str, env_value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    if env_value is not None:
        env["TF_USE_LEGACY_KERAS"] = env_value
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_this_process_uses_keras_2() -> None:
    assert keras_version().startswith("2.")


@pytest.mark.slow
def test_cli_reports_keras_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "info"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "tf.keras    2." in result.stdout


@pytest.mark.slow
def test_entry_point_modules_see_keras_2_after_configure() -> None:
    modules = ", ".join(["pipelines.training", "pipelines.mnist", "pipelines.ticket.preprocessing"])
    code = (
        "from pipelines.keras_config import configure_keras, require_keras2, keras_version; configure_keras(); "
        f"import {modules}; require_keras2(); print(keras_version())"
    )
    result = _run(code, env_value=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("2.")


@pytest.mark.slow
def test_keras_3_is_refused_with_a_clear_message() -> None:
    code = "import tensorflow as tf; from pipelines.mnist import preprocessing_fn; preprocessing_fn({})"
    result = _run(code, env_value="0")
    assert result.returncode != 0
    assert "KerasVersionError" in result.stderr and "TF_USE_LEGACY_KERAS=1" in result.stderr


@pytest.mark.slow
def test_configure_after_tensorflow_import_is_refused() -> None:
    result = _run(
        "import tensorflow; from pipelines.keras_config import configure_keras; configure_keras()", env_value=None
    )
    assert result.returncode != 0 and "imported before TF_USE_LEGACY_KERAS=1" in result.stderr


def test_autograph_leaves_tf_keras_alone_after_require_keras2() -> None:
    from tensorflow.python.autograph.core import config as autograph_config

    from pipelines.keras_config import require_keras2

    require_keras2()
    require_keras2()  # idempotent
    rules = [r for r in autograph_config.CONVERSION_RULES if r.matches("tf_keras.src.engine.training")]
    assert len(rules) == 1 and isinstance(rules[0], autograph_config.DoNotConvert)
