"""Trainer ``run_fn`` for MNIST: thin glue between models/, pipelines/training.py and serving/."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer.fn_args_utils import FnArgs

from models.cnn import build_mnist_cnn
from pipelines import reports, training
from pipelines.features import transformed_name
from pipelines.keras_config import require_keras2
from pipelines.mnist.config import CLASS_NAMES, IMAGE_KEY, IMAGE_SHAPE, LABEL_KEY, NUM_CLASSES
from serving.export import classification_outputs, export_model

INPUTS = {IMAGE_KEY: transformed_name(IMAGE_KEY)}
LABELS = {LABEL_KEY: transformed_name(LABEL_KEY)}
RAW_SIGNATURE = {IMAGE_KEY: tf.TensorSpec(shape=[None, *IMAGE_SHAPE], dtype=tf.uint8, name=IMAGE_KEY)}


def raw_to_features(raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """uint8 images [batch, 28, 28, 1] -> the raw feature dict ExampleGen writes (int64 [batch, 784])."""
    image = tf.ensure_shape(raw[IMAGE_KEY], [None, *IMAGE_SHAPE])  # a clear INVALID_ARGUMENT otherwise
    return {IMAGE_KEY: tf.reshape(tf.cast(image, tf.int64), [-1, int(np.prod(IMAGE_SHAPE))])}


def postprocess(outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Model output -> probabilities, class id and digit name."""
    return classification_outputs(outputs[LABEL_KEY], CLASS_NAMES)


def build_compiled_model(learning_rate: float) -> keras.Model:
    """The baseline CNN with RMSprop and the loss that matches its softmax output."""
    model = build_mnist_cnn(IMAGE_SHAPE, NUM_CLASSES, input_name=IMAGE_KEY, output_name=LABEL_KEY)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate),
        loss=keras.losses.CategoricalCrossentropy(from_logits=False),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def run_fn(fn_args: FnArgs) -> None:
    """Train, write the report pictures, and export both serving signatures."""
    require_keras2()
    config = training.training_config(fn_args)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    train_ds = training.make_dataset(
        fn_args.train_files,
        tft_output,
        INPUTS,
        LABELS,
        config.batch_size,
        shuffle_buffer=config.shuffle_buffer,
        seed=config.seed,
    )
    eval_ds = training.make_dataset(fn_args.eval_files, tft_output, INPUTS, LABELS, config.batch_size)

    model = build_compiled_model(config.learning_rate)
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
        CLASS_NAMES,
    )
    print(f"[trainer] eval accuracy {metrics['accuracy']:.4f} on {metrics['examples']} examples")

    export_model(
        model, tft_output, fn_args.serving_model_dir, INPUTS, [LABEL_KEY], RAW_SIGNATURE, raw_to_features, postprocess
    )
