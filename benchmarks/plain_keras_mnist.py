"""The baseline: the same MNIST CNN trained by a plain Keras script, no TFX.

Same data (TFDS mnist, train[:90%] / train[90%:], test), same preprocessing
(pixels / 255, one-hot labels), same model, optimizer, batch size, shuffle
buffer, epochs and callbacks as the pipeline's defaults. Prints one JSON line:
test accuracy, epochs run, wall time.

    python benchmarks/plain_keras_mnist.py --data-dir DIR [--epochs 15]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from pipelines.keras_config import configure_keras

configure_keras()

import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from pipelines.config import TrainingConfig  # noqa: E402
from pipelines.image_classification import build_compiled_model  # noqa: E402
from pipelines.mnist.config import MnistConfig  # noqa: E402
from pipelines.mnist.trainer import TASK  # noqa: E402
from pipelines.training import standard_callbacks  # noqa: E402


def load(data_dir: str, split: str, config: TrainingConfig, train: bool) -> tf.data.Dataset:
    """TFDS split -> (image in [0, 1], one-hot label) batches."""
    ds = tfds.load("mnist", split=split, data_dir=data_dir, as_supervised=True, shuffle_files=False)
    ds = ds.map(
        lambda image, label: (
            {"image": tf.divide(tf.cast(image, tf.float32), 255.0)},
            {"label": tf.one_hot(label, 10)},
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).cache()
    if train:
        ds = ds.shuffle(config.shuffle_buffer, seed=config.seed)
    return ds.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)


def main() -> None:
    """Train, evaluate on the test split, print the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=MnistConfig().training.epochs)
    args = parser.parse_args()
    start = time.time()
    defaults = MnistConfig()
    config = TrainingConfig(**{**defaults.training.__dict__, "epochs": args.epochs})
    tf.keras.utils.set_random_seed(config.seed)
    splits = defaults.data.splits
    model = build_compiled_model(TASK, config.learning_rate)
    with tempfile.TemporaryDirectory() as run_dir:
        history = model.fit(
            load(args.data_dir, splits["train"], config, True),
            validation_data=load(args.data_dir, splits["eval"], config, False),
            epochs=config.epochs,
            callbacks=standard_callbacks(config, run_dir),
            verbose=2,
        )
    _, accuracy = model.evaluate(load(args.data_dir, splits["test"], config, False), verbose=0)
    print(
        json.dumps(
            {"test_accuracy": float(accuracy), "epochs_run": len(history.epoch), "wall_seconds": time.time() - start}
        )
    )


if __name__ == "__main__":
    main()
