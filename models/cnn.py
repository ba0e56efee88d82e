"""The MNIST-family CNNs (Functional API): the baseline, and an improved one with BatchNorm and Dropout."""

from __future__ import annotations

import tf_keras as keras


def build_baseline_cnn(
    input_shape: tuple[int, int, int] = (28, 28, 1),
    num_classes: int = 10,
    input_name: str = "image",
    output_name: str = "label",
    dropout: float = 0.5,
    name: str = "baseline_cnn",
) -> keras.Model:
    """Build the baseline CNN: Conv(32) -> MaxPool -> Conv(64) -> MaxPool -> Flatten -> Dropout -> Dense.

    The output is a softmax over ``num_classes`` (so the matching loss is
    ``CategoricalCrossentropy(from_logits=False)``). Input and output layers
    are named after the feature and label keys so that loss dicts, TFMA and
    serving signatures line up by name. With the defaults: 34,826 parameters.

    Args:
        input_shape: image shape (height, width, channels).
        num_classes: number of classes.
        input_name: name of the input (the image feature key).
        output_name: name of the output (the label key).
        dropout: dropout rate before the classifier.
        name: the model's name (diagrams, summaries).

    Returns:
        An uncompiled Keras 2 Functional model.
    """
    inputs = keras.Input(shape=input_shape, name=input_name)
    x = keras.layers.Conv2D(32, (3, 3), activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D((2, 2), name="pool1")(x)
    x = keras.layers.Conv2D(64, (3, 3), activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D((2, 2), name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name=output_name)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)


def build_improved_cnn(
    input_shape: tuple[int, int, int] = (28, 28, 1),
    num_classes: int = 10,
    input_name: str = "image",
    output_name: str = "label",
    name: str = "improved_cnn",
) -> keras.Model:
    """Build the improved CNN: (Conv-BatchNorm-Conv-MaxPool-Dropout) x 2, Dense(512)-BatchNorm-Dropout.

    Layer for layer the seed's ``Sequential`` model (32 then 64 filters of 3x3, ``valid`` padding,
    dropout 0.25 after each block and 0.5 before the classifier), written with the Functional API
    and named inputs and outputs like :func:`build_baseline_cnn`. With the defaults: 597,354
    parameters (2,432 of them BatchNorm statistics, not trained). The seed's text reports
    1,250,858 for it; that figure does not match its own layer list, which this follows.

    Args:
        input_shape: image shape (height, width, channels).
        num_classes: number of classes.
        input_name: name of the input (the image feature key).
        output_name: name of the output (the label key).
        name: the model's name (diagrams, summaries).

    Returns:
        An uncompiled Keras 2 Functional model with a softmax output.
    """
    inputs = keras.Input(shape=input_shape, name=input_name)
    x = inputs
    for block, filters in enumerate((32, 64), start=1):
        x = keras.layers.Conv2D(filters, (3, 3), activation="relu", name=f"block{block}_conv1")(x)
        x = keras.layers.BatchNormalization(name=f"block{block}_bn")(x)
        x = keras.layers.Conv2D(filters, (3, 3), activation="relu", name=f"block{block}_conv2")(x)
        x = keras.layers.MaxPooling2D((2, 2), name=f"block{block}_pool")(x)
        x = keras.layers.Dropout(0.25, name=f"block{block}_dropout")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(512, activation="relu", name="dense")(x)
    x = keras.layers.BatchNormalization(name="dense_bn")(x)
    x = keras.layers.Dropout(0.5, name="dense_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name=output_name)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)
