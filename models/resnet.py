"""The toy ResNet for CIFAR-10 (Functional API, ``add`` skip connections)."""

from __future__ import annotations

import tf_keras as keras


def residual_block(x: keras.layers.Layer, filters: int, name: str) -> keras.layers.Layer:
    """Two 3x3 convolutions whose output is added to the block's input (the skip connection)."""
    y = keras.layers.Conv2D(filters, 3, activation="relu", padding="same", name=f"{name}_conv1")(x)
    y = keras.layers.Conv2D(filters, 3, activation="relu", padding="same", name=f"{name}_conv2")(y)
    return keras.layers.add([y, x], name=f"{name}_add")


def build_toy_resnet(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    input_name: str = "image",
    output_name: str = "label",
    dropout: float = 0.5,
) -> keras.Model:
    """Conv(32) -> Conv(64) -> MaxPool(3) -> 2 residual blocks -> Conv(64) -> GAP -> Dense(256) -> Dropout -> Dense.

    With the defaults: 223,242 parameters. The output is a softmax, so the
    matching loss is ``CategoricalCrossentropy(from_logits=False)``.

    Args:
        input_shape: image shape (height, width, channels).
        num_classes: number of classes.
        input_name: name of the input (the image feature key).
        output_name: name of the output (the label key).
        dropout: dropout rate before the classifier.

    Returns:
        An uncompiled Keras 2 Functional model.
    """
    inputs = keras.Input(shape=input_shape, name=input_name)
    x = keras.layers.Conv2D(32, 3, activation="relu", name="stem_conv1")(inputs)
    x = keras.layers.Conv2D(64, 3, activation="relu", name="stem_conv2")(x)
    x = keras.layers.MaxPooling2D(3, name="stem_pool")(x)
    x = residual_block(x, 64, "block1")
    x = residual_block(x, 64, "block2")
    x = keras.layers.Conv2D(64, 3, activation="relu", name="head_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(256, activation="relu", name="dense")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name=output_name)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="toy_resnet")
