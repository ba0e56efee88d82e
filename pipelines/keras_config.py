"""The one place that decides which Keras this project uses: Keras 2 (tf-keras).

Why Keras 2: TensorFlow Transform 1.16 only works with Keras 2 and, on import,
sets ``TF_USE_LEGACY_KERAS=1`` when it is unset. With TensorFlow 2.16 that
variable decides what ``tf.keras`` means, and it is read once, when TensorFlow
is first imported. A process that imported TensorFlow before Transform would
get Keras 3 for ``tf.keras`` while Transform's layers are Keras 2, and the two
cannot be mixed in one model.

Every entry point (the CLI, the test suite's ``conftest.py``, the benchmark
scripts, the Docker image) calls :func:`configure_keras` before TensorFlow is
imported; code that builds or loads models (Trainer ``run_fn``, Transform
``preprocessing_fn``) calls :func:`require_keras2`, which fails loudly when an
entry point forgot.
"""

from __future__ import annotations

import os
import sys

ENV_VAR = "TF_USE_LEGACY_KERAS"
KERAS_MAJOR = 2


class KerasVersionError(RuntimeError):
    """Raised when the process runs a Keras other than the project's choice."""


def configure_keras() -> None:
    """Select Keras 2 for ``tf.keras`` in this process and its children.

    Must run before TensorFlow is imported. Calling it again is harmless.

    Raises:
        KerasVersionError: TensorFlow was already imported with Keras 3.
    """
    if os.environ.get(ENV_VAR) != "1":
        if "tensorflow" in sys.modules:
            raise KerasVersionError(
                f"TensorFlow was imported before {ENV_VAR}=1 was set, so tf.keras is Keras 3 "
                "in this process. Call pipelines.keras_config.configure_keras() before importing "
                f"tensorflow, or export {ENV_VAR}=1."
            )
        os.environ[ENV_VAR] = "1"


def keras_version() -> str:
    """Return the version of the Keras that ``tf.keras`` resolves to."""
    import tensorflow as tf

    module = getattr(tf.keras, "__name__", "")
    if module.startswith("tf_keras"):
        import tf_keras

        return str(tf_keras.__version__)
    version = getattr(tf.keras, "__version__", None)
    if version is None:
        import keras

        version = keras.__version__
    return str(version)


def skip_autograph_for_tf_keras() -> None:
    """Tell AutoGraph not to convert tf-keras's own code, as TensorFlow already does for ``keras``.

    TensorFlow 2.16's AutoGraph rules list ``keras`` among the libraries it leaves alone, but not
    ``tf_keras``: the first ``train_step`` of a process then converts some 800 tf-keras functions,
    about 11 s on this project's machines before the first batch (and again for evaluation,
    prediction and export). Library code needs no conversion, so this only saves time. Idempotent.
    """
    from tensorflow.python.autograph.core import config as autograph_config

    rules = autograph_config.CONVERSION_RULES
    if not any(isinstance(rule, autograph_config.DoNotConvert) and rule.matches("tf_keras") for rule in rules):
        autograph_config.CONVERSION_RULES = (autograph_config.DoNotConvert("tf_keras"), *rules)


def require_keras2() -> None:
    """Fail with a clear message unless ``tf.keras`` is Keras 2 (tf-keras); then prepare it for training.

    Raises:
        KerasVersionError: ``tf.keras`` is not Keras 2.
    """
    version = keras_version()
    if not version.startswith(f"{KERAS_MAJOR}."):
        raise KerasVersionError(
            f"tf.keras is Keras {version}, but this project uses Keras {KERAS_MAJOR} (tf-keras), "
            f"which TensorFlow Transform requires. Set {ENV_VAR}=1 before TensorFlow is imported "
            "(the tfx-keras CLI and the tests do this through pipelines.keras_config.configure_keras)."
        )
    skip_autograph_for_tf_keras()
