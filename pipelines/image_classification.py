"""What every single-label image classification task shares (MNIST, CIFAR-10).

One piece of code for the Transform step (pixels / 255, one-hot labels), the
Trainer (datasets, optional augmentation, fit, report pictures, export) and
the raw-image serving signature. A task describes itself with an
:class:`ImageTask` and keeps its own ``preprocessing_fn`` and ``run_fn`` as
one-line entry points, so TFX reaches each by dotted path.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer.fn_args_utils import FnArgs

from pipelines import reports, training
from pipelines.features import transformed_name
from pipelines.keras_config import require_keras2
from serving.export import classification_outputs, export_model, raw_feature_subset

IMAGE_KEY = "image"
LABEL_KEY = "label"


@dataclasses.dataclass(frozen=True)
class ImageTask:
    """A single-label image classification task."""

    image_shape: tuple[int, int, int]
    class_names: Sequence[str]
    build_model: Callable[[], keras.Model]  # uncompiled; input named `image`, softmax output named `label`

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def inputs(self) -> dict[str, str]:
        """Model input name -> transformed feature key."""
        return {IMAGE_KEY: transformed_name(IMAGE_KEY)}

    @property
    def labels(self) -> dict[str, str]:
        """Model output name -> transformed label key."""
        return {LABEL_KEY: transformed_name(LABEL_KEY)}

    @property
    def raw_signature(self) -> dict[str, tf.TensorSpec]:
        """Inputs of the ``serving_raw`` signature: uint8 images."""
        return {IMAGE_KEY: tf.TensorSpec(shape=[None, *self.image_shape], dtype=tf.uint8, name=IMAGE_KEY)}


def preprocess(inputs: dict[str, tf.Tensor], image_shape: Sequence[int], num_classes: int) -> dict[str, tf.Tensor]:
    """The Transform step: pixels / 255 reshaped to the image shape, and a one-hot label.

    Args:
        inputs: ``image`` int64 [batch, H*W*C] (row-major pixels 0..255, as
            TFDSExampleGen writes them) and ``label`` int64 [batch, 1].
        image_shape: (H, W, C).
        num_classes: depth of the one-hot label.

    Returns:
        ``image_xf`` float32 [batch, H, W, C] in [0, 1] and ``label_xf`` float32 [batch, num_classes].
    """
    require_keras2()
    image = tf.divide(tf.cast(inputs[IMAGE_KEY], tf.float32), 255.0)
    label = tf.reshape(inputs[LABEL_KEY], [-1])
    return {
        transformed_name(IMAGE_KEY): tf.reshape(image, [-1, *image_shape]),
        transformed_name(LABEL_KEY): tf.one_hot(label, depth=num_classes, dtype=tf.float32),
    }


def raw_to_features(task: ImageTask) -> Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]:
    """uint8 images [batch, H, W, C] -> the raw feature dict ExampleGen writes (int64 [batch, H*W*C])."""

    def convert(raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        image = tf.ensure_shape(raw[IMAGE_KEY], [None, *task.image_shape])  # a clear INVALID_ARGUMENT otherwise
        return {IMAGE_KEY: tf.reshape(tf.cast(image, tf.int64), [-1, int(np.prod(task.image_shape))])}

    return convert


def augment(
    inputs: dict[str, tf.Tensor], labels: dict[str, tf.Tensor], padding: int = 4
) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """Training-time augmentation of a batch: random horizontal flip and random crop after zero padding.

    Applied to the training dataset only, never to evaluation or serving (the
    exported model contains no augmentation).
    """
    images = inputs[IMAGE_KEY]
    shape = tf.shape(images)
    images = tf.image.random_flip_left_right(images)
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    images = tf.image.random_crop(padded, shape)
    return {**inputs, IMAGE_KEY: images}, labels


def build_compiled_model(task: ImageTask, learning_rate: float) -> keras.Model:
    """The task's model with RMSprop and the loss that matches its softmax output."""
    model = task.build_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate),
        loss=keras.losses.CategoricalCrossentropy(from_logits=False),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def run(fn_args: FnArgs, task: ImageTask) -> None:
    """The Trainer's work: fit, write the report pictures, export both serving signatures."""
    require_keras2()
    config = training.training_config(fn_args)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    train_ds = training.make_dataset(
        fn_args.train_files,
        tft_output,
        task.inputs,
        task.labels,
        config.batch_size,
        shuffle_buffer=config.shuffle_buffer,
        seed=config.seed,
    )
    if config.augment:
        train_ds = train_ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    eval_ds = training.make_dataset(fn_args.eval_files, tft_output, task.inputs, task.labels, config.batch_size)

    strategy = training.distribution_strategy(config.distribution)
    print(f"[trainer] {type(strategy).__name__}: {strategy.num_replicas_in_sync} replica(s)")
    with strategy.scope():
        model = build_compiled_model(task, config.learning_rate)
    model.summary(print_fn=lambda line: print(f"[trainer] {line}"))
    history = training.fit(model, train_ds, eval_ds, config, fn_args.model_run_dir)

    images, labels, probabilities = [], [], []
    for inputs, label in eval_ds:
        images.append(inputs[IMAGE_KEY].numpy())
        labels.append(label[LABEL_KEY].numpy().argmax(-1))
        probabilities.append(model.predict_on_batch(inputs))
    metrics = reports.write_classification_report(
        os.path.join(fn_args.model_run_dir, "report"),
        model,
        history.history,
        np.concatenate(images),
        np.concatenate(labels),
        np.concatenate(probabilities),
        list(task.class_names),
    )
    print(f"[trainer] eval accuracy {metrics['accuracy']:.4f} on {metrics['examples']} examples")

    export_model(
        model,
        tft_output,
        training.export_dir(fn_args.serving_model_dir, fn_args.model_run_dir),
        task.inputs,
        raw_feature_subset(tft_output, [IMAGE_KEY]),
        task.raw_signature,
        raw_to_features(task),
        lambda outputs: classification_outputs(outputs[LABEL_KEY], task.class_names),
        classify=(LABEL_KEY, task.class_names),
    )
