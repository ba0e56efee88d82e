"""What every single-label image classification task shares (MNIST, Fashion-MNIST, CIFAR-10).

A task folder calls :func:`image_classification_task` with its data set, image shape, class names,
config class and model builder, and gets a complete :class:`~pipelines.spec.TaskSpec`: the Transform
step (pixels / 255, one-hot labels), the TFMA config, an optional augmentation, and the serving
contract (uint8 images in; probabilities, class ids and class names out). The softmax head's loss,
metrics and report (with sample images) are :mod:`pipelines.heads`'.

The data comes from TFDS, or from the user's own images (``data.input_base``: span folders of a
folder per class, or TFRecord files): the spec's :class:`ImageDeclaration` says what the files must
be (the class names, one folder each, and the image shape), and the ExampleGen writes the same
features as TFDSExampleGen (``components/file_example_gen/images.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from common.contract import CLASS_IDS, PROBABILITIES
from pipelines.config import ClassifierEval, TaskConfig
from pipelines.features import transformed_name
from pipelines.heads import classifier_report, softmax_compile_args
from pipelines.spec import ServingContract, TaskSpec, TfdsSource

IMAGE_KEY = "image"
LABEL_KEY = "label"


@dataclasses.dataclass(frozen=True)
class ImageDeclaration:
    """What an image task's own files must be (the spec's ``declaration``; the pipeline reads it).

    Attributes:
        image_shape: (height, width, channels) of every image.
        class_names: the class names in label order; a span holds a folder per class, named after it
            (``components.file_example_gen.images.class_folder``: ``T-shirt/top`` -> ``T-shirt_top``).
    """

    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]


def decode_images(encoded: Any, image_shape: Sequence[int]) -> Any:
    """Encoded images (PNG, JPEG ...) [batch] or [batch, 1] -> uint8 [batch, H, W, C]; another size fails."""
    import tensorflow as tf

    def decode(data: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(data, channels=image_shape[-1], expand_animations=False)
        return tf.ensure_shape(image, image_shape)

    return tf.map_fn(decode, tf.reshape(encoded, [-1]), fn_output_signature=tf.TensorSpec(image_shape, tf.uint8))


def encode_images(images: Any) -> Any:
    """uint8 [batch, H, W, C] -> PNG bytes [batch, 1] (what ExampleGen writes; lossless)."""
    import tensorflow as tf

    return tf.reshape(tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.string), [-1, 1])


def preprocess(inputs: Mapping[str, Any], image_shape: Sequence[int], num_classes: int) -> dict[str, Any]:
    """The Transform step: decode the images, pixels / 255, and a one-hot label.

    Args:
        inputs: ``image``, encoded images (bytes, as TFDSExampleGen writes them) [batch, 1], and
            ``label`` int64 [batch, 1].
        image_shape: (H, W, C).
        num_classes: depth of the one-hot label.

    Returns:
        ``image_xf`` float32 [batch, H, W, C] in [0, 1] and ``label_xf`` float32 [batch, num_classes].
    """
    import tensorflow as tf

    from pipelines.keras_config import require_keras2

    require_keras2()
    pixels = decode_images(inputs[IMAGE_KEY], image_shape)
    label = tf.reshape(inputs[LABEL_KEY], [-1])
    return {
        transformed_name(IMAGE_KEY): tf.divide(tf.cast(pixels, tf.float32), 255.0),
        transformed_name(LABEL_KEY): tf.one_hot(label, depth=num_classes, dtype=tf.float32),
    }


def augment(inputs: dict[str, Any], labels: dict[str, Any], padding: int = 4) -> tuple[dict, dict]:
    """Training-time augmentation of a batch: random horizontal flip and random crop after zero padding.

    Applied to the training dataset only, never to evaluation or serving (the exported model
    contains no augmentation).
    """
    import tensorflow as tf

    images = inputs[IMAGE_KEY]
    shape = tf.shape(images)
    images = tf.image.random_flip_left_right(images)
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    images = tf.image.random_crop(padded, shape)
    return {**inputs, IMAGE_KEY: images}, labels


def serving_contract(image_shape: Sequence[int], class_names: Sequence[str]) -> ServingContract:
    """Images in, probabilities, class ids and class names out.

    ``serving_raw`` takes uint8 images ``[batch, H, W, C]``; ``serving_default`` takes tf.Examples whose
    ``image`` is an encoded PNG or JPEG (a file's bytes). ``serving_raw`` encodes the pixels as PNG
    (lossless), so both signatures run the same Transform graph.
    """
    import tensorflow as tf

    from common.contract import classification_output_dtypes
    from pipelines.export import classification_outputs

    def raw_to_features(raw: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        image = tf.ensure_shape(raw[IMAGE_KEY], [None, *image_shape])  # a clear INVALID_ARGUMENT otherwise
        return {IMAGE_KEY: encode_images(image)}

    return ServingContract(
        raw_inputs={IMAGE_KEY: tf.TensorSpec([None, *image_shape], tf.uint8, name=IMAGE_KEY)},
        raw_to_features=raw_to_features,
        outputs=lambda outputs: classification_outputs(outputs[LABEL_KEY], class_names),
        example_features=[IMAGE_KEY],
        classify=(LABEL_KEY, tuple(class_names)),
        declared_outputs=classification_output_dtypes(),
    )


def tflite_function(image_shape: Sequence[int]) -> Callable[[Any, Any], Any]:
    """The TFLite function of an image classifier: uint8 pixels in, the Transform's ``/ 255`` inside.

    The SavedModel's ``serving_raw`` goes pixels -> PNG -> decode -> ``/ 255``; PNG is lossless, so
    dropping the round trip (TFLite has no PNG ops) leaves exactly the same numbers for the model.
    """

    def make(model: Any, config: TaskConfig) -> Any:
        import tensorflow as tf

        del config

        @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.uint8, name=IMAGE_KEY)])
        def classify(image: tf.Tensor) -> dict[str, tf.Tensor]:
            probabilities = model({IMAGE_KEY: tf.divide(tf.cast(image, tf.float32), 255.0)}, training=False)
            return {PROBABILITIES: probabilities, CLASS_IDS: tf.argmax(probabilities, axis=-1, output_type=tf.int64)}

        return classify

    return make


def image_classification_task(
    *,
    name: str,
    description: str,
    dataset: str,
    image_shape: tuple[int, int, int],
    class_names: Sequence[str],
    config_class: type[TaskConfig],
    build_model: Callable[[Any], Any],
    preprocessing_fn: str,
    schema_file: str,
    raw_format: str | None = None,
) -> TaskSpec:
    """The spec of a single-label image classification task read from TFDS (or the user's images).

    Args:
        name: the task name.
        description: one line for ``tfx-keras list``.
        dataset: the TFDS builder name.
        image_shape: (H, W, C) of the images.
        class_names: a name per class, in label order.
        config_class: the task's config class; it has ``data`` (TfdsData: TFDS, or files with
            ``input_base``), ``training`` and ``eval`` (ClassifierEval) sections.
        build_model: config -> uncompiled model with input ``image`` and softmax output ``label``.
        preprocessing_fn: dotted path of the task's ``preprocessing_fn`` (a call of :func:`preprocess`).
        schema_file: the task's curated schema.
        raw_format: the offline import format of the upstream files, if there is one.
    """
    class_names = tuple(class_names)

    def eval_config(config: Any) -> Any:
        from pipelines.evaluation import classifier_eval_config

        evaluation: ClassifierEval = config.eval
        return classifier_eval_config(LABEL_KEY, evaluation.min_accuracy, evaluation.max_accuracy_drop)

    return TaskSpec(
        name=name,
        description=description,
        config_class=config_class,
        source=TfdsSource(dataset=dataset, raw_format=raw_format, label_names=class_names),
        preprocessing_fn=preprocessing_fn,
        schema_file=schema_file,
        build_model=build_model,
        compile_args=softmax_compile_args,
        inputs=lambda _config: {IMAGE_KEY: transformed_name(IMAGE_KEY)},
        labels=lambda _config: {LABEL_KEY: transformed_name(LABEL_KEY)},
        eval_config=eval_config,
        serving=lambda _config: serving_contract(image_shape, class_names),
        report=classifier_report(class_names, LABEL_KEY, image_input=IMAGE_KEY),
        augment=augment,
        tflite=tflite_function(image_shape),
        declaration=ImageDeclaration(image_shape=tuple(image_shape), class_names=class_names),
    )
