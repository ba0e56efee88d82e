"""Run by tests/test_distribution.py in a fresh process: fit a small Functional model under a strategy.

Usage: python distributed_fit.py STRATEGY [LOGICAL_CPUS]. Prints one JSON line with the number of
replicas, the final loss and a checksum of the trained weights.
"""

from __future__ import annotations

import json
import sys

from pipelines.keras_config import configure_keras, require_keras2

configure_keras()
require_keras2()  # as the Trainer does: AutoGraph leaves tf_keras alone (seconds per traced function)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

strategy_name = sys.argv[1]
logical_cpus = int(sys.argv[2]) if len(sys.argv) > 2 else 1
if logical_cpus > 1:
    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)

import tf_keras as keras  # noqa: E402

from models.cnn import build_baseline_cnn  # noqa: E402
from pipelines import distribution  # noqa: E402

keras.utils.set_random_seed(0)
strategy = distribution.distribution_strategy(strategy_name)
with strategy.scope():
    model = build_baseline_cnn()
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss="categorical_crossentropy")
rng = np.random.default_rng(0)
x = rng.random((64, 28, 28, 1), dtype=np.float32)
y = keras.utils.to_categorical(rng.integers(0, 10, 64), 10)
dataset = tf.data.Dataset.from_tensor_slices(({"image": x}, {"label": y})).batch(32)
history = model.fit(dataset, epochs=2, verbose=0)
checksum = float(sum(float(np.abs(w).sum()) for w in model.get_weights()))
print(
    json.dumps(
        {
            "strategy": type(strategy).__name__,
            "replicas": strategy.num_replicas_in_sync,
            "loss": history.history["loss"][-1],
            "checksum": checksum,
            "chief": distribution.is_chief(),
        }
    ),
    flush=True,
)
