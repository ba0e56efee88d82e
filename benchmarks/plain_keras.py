"""The baseline: an image task's model trained by a plain Keras script, no TFX.

Same data (the task's TFDS splits), same preprocessing (pixels / 255,
one-hot labels), same model, optimizer, batch size, shuffle buffer,
augmentation, epochs and callbacks as the task's pipeline defaults. Prints
one JSON line: test accuracy, epochs run, wall time.

    python benchmarks/plain_keras.py --task mnist --data-dir DIR [--epochs 15]
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

from pipelines import tasks  # noqa: E402
from pipelines.callbacks import epoch_seconds, standard_callbacks  # noqa: E402
from pipelines.config import TrainingConfig, apply_overrides  # noqa: E402
from pipelines.image_classification import IMAGE_KEY, LABEL_KEY, augment  # noqa: E402
from pipelines.keras_config import require_keras2  # noqa: E402
from pipelines.training import make_optimizer  # noqa: E402


def load(
    dataset: str, data_dir: str, split: str, num_classes: int, config: TrainingConfig, train: bool
) -> tf.data.Dataset:
    """TFDS split -> ({image: [0, 1] floats}, {label: one-hot}) batches."""
    ds = tfds.load(dataset, split=split, data_dir=data_dir, as_supervised=True, shuffle_files=False)
    ds = ds.map(
        lambda image, label: (
            {IMAGE_KEY: tf.divide(tf.cast(image, tf.float32), 255.0)},
            {LABEL_KEY: tf.one_hot(label, num_classes)},
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).cache()
    if train:
        ds = ds.shuffle(config.shuffle_buffer, seed=config.seed)
    ds = ds.batch(config.batch_size)
    if train and config.augment:
        ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def main() -> None:
    """Train, evaluate on the test split, print the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["mnist", "fashion_mnist", "cifar10"], required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=None, help="default: the task's configured epochs")
    parser.add_argument("--seed", type=int, default=None, help="default: the task's configured seed")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="config override")
    args = parser.parse_args()
    start = time.time()
    require_keras2()  # the same Keras 2 set-up as the pipeline's Trainer
    spec = tasks.get(args.task)
    overrides = [f"training.{k}={v}" for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None]
    defaults = apply_overrides(spec.default_config(), [*args.set, *overrides])
    config = defaults.training
    tf.keras.utils.set_random_seed(config.seed)
    splits, dataset = defaults.data.splits, spec.source.dataset
    num_classes = len(spec.source.label_names)
    model = spec.build_model(defaults)
    model.compile(optimizer=make_optimizer(config), **spec.compile_args(defaults))
    with tempfile.TemporaryDirectory() as run_dir:
        callbacks = standard_callbacks(config, run_dir)
        history = model.fit(
            load(dataset, args.data_dir, splits["train"], num_classes, config, True),
            validation_data=load(dataset, args.data_dir, splits["eval"], num_classes, config, False),
            epochs=config.epochs,
            callbacks=callbacks,
            verbose=0,
        )
    test = load(dataset, args.data_dir, splits["test"], num_classes, config, False)
    _, accuracy = model.evaluate(test, verbose=0)
    print(
        json.dumps(
            {
                "test_accuracy": float(accuracy),
                "epochs_run": len(history.epoch),
                "wall_seconds": time.time() - start,
                "epoch_seconds": epoch_seconds(callbacks),
            }
        )
    )


if __name__ == "__main__":
    main()
