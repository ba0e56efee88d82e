"""Executor of TFDSExampleGen: reads TFDS splits in Beam and writes tf.train.Examples.

Encoding (see :func:`to_tf_example`): images stay as TFDS stores them, *encoded* (PNG or JPEG
bytes in a ``bytes_list``, as TFX's own image examples carry them; Transform decodes them), with
the decoded size read from the image's header as three more features ``<image>/height``,
``<image>/width`` and ``<image>/channels`` (so a schema can check the size without decoding).
Other integers and booleans (class labels) become ``int64_list``, floating point values
``float_list``, strings and bytes ``bytes_list``; multi-dimensional arrays are flattened in
row-major order. Each feature's dtype, shape and encoding are written beside the splits as
``tfds_features.json`` (see :func:`read_feature_metadata`) and on the artifact's custom
properties, so an example decodes back to the exact array. Unlike TFX's ``dict_to_example``, a
value of 0 is kept.

Long because reading TFDS splits and their checks (labels, image shapes, fingerprints) are one Beam pipeline.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.types import artifact_utils, standard_component_specs

from components import example_gen_options

FEATURES_FILE = "tfds_features.json"
IMAGE_SIZE_FEATURES = ("height", "width", "channels")


class DatasetUnavailableError(RuntimeError):
    """The TFDS data set is neither prepared in ``data_dir`` nor downloadable."""


def unpack_options(exec_properties: Mapping[str, Any]) -> dict[str, Any]:
    """Return the TFDS options packed into the ``custom_config`` execution property."""
    return example_gen_options.unpack_options(exec_properties, "TFDSExampleGen")


def load_builder(options: Mapping[str, Any]) -> Any:
    """Return the TFDS builder for ``options``, preparing (downloading) it when allowed.

    Raises:
        DatasetUnavailableError: the data is not prepared and download is off or fails.
    """
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import constants

    name = options["dataset"] + (f":{options['version']}" if options.get("version") else "")
    builder = tfds.builder(name, data_dir=options.get("data_dir") or None)
    if not builder.is_prepared():
        where = options.get("data_dir") or os.path.expanduser(constants.DATA_DIR)  # the root, not the version folder
        if not options.get("download", False):
            raise DatasetUnavailableError(missing_dataset_message(options["dataset"], where))
        try:
            builder.download_and_prepare()
        except Exception as err:  # network errors come in many types
            raise DatasetUnavailableError(download_failed_message(options["dataset"], where, str(err))) from err
    return builder


DOWNLOAD_HOST = ("storage.googleapis.com", 443)  # TFDS's mirror, tried first, and MNIST's own source


def download_host_unreachable(timeout: float = 5.0) -> str:
    """Why TensorFlow Datasets' download host cannot be reached from here (empty if it can)."""
    import socket

    host, port = DOWNLOAD_HOST
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ""
    except OSError as err:
        return f"cannot connect to {host}:{port}: {err.strerror or err}"


def download_failed_message(dataset: str, data_dir: str, reason: str) -> str:
    """The error text for a download that failed: what happened, and the offline way in."""
    return (
        f"TensorFlow Datasets could not download '{dataset}' into {data_dir} ({reason}); nothing was changed. "
        f"Import its upstream files offline instead (`tfx-keras data import`, into --data-dir {data_dir}), "
        "and run again without --download."
    )


def missing_dataset_message(dataset: str, data_dir: str) -> str:
    """The error text for a data set that is not in ``data_dir``: what is wrong and the two ways out."""
    return (
        f"TFDS data set '{dataset}' is not prepared in {data_dir}. Either import its upstream files offline "
        f"(`tfx-keras data import`, into --data-dir {data_dir}), or allow TensorFlow Datasets to download it "
        "(--download; needs network access)."
    )


def _feature(value: Any) -> tf.train.Feature:
    array = np.asarray(value)
    flat = array.reshape(-1)
    if array.dtype.kind in "biu":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=flat.astype(np.int64).tolist()))
    if array.dtype.kind == "f":
        return tf.train.Feature(float_list=tf.train.FloatList(value=flat.astype(np.float32).tolist()))
    if array.dtype.kind in "SUO":
        values = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in flat.tolist()]
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    raise ValueError(f"cannot encode a value of dtype {array.dtype} in a tf.train.Example")


def flatten_features(example: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested feature dicts to ``'outer/inner'`` keys."""
    out: dict[str, Any] = {}
    for key, value in example.items():
        if isinstance(value, Mapping):
            out.update(flatten_features(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def image_size(encoded: bytes) -> tuple[int, int, int] | None:
    """(height, width, channels) from an encoded image's header (PNG, JPEG ...), without decoding its pixels.

    None if the bytes are not an image PIL can identify.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(encoded)) as image:
            width, height = image.size
            return height, width, len(image.getbands())
    except (UnidentifiedImageError, OSError, SyntaxError):
        return None


def to_tf_example(example: Mapping[str, Any], image_keys: Sequence[str] = ()) -> tf.train.Example:
    """Encode one TFDS example (numpy values) as a tf.train.Example, keeping zeros.

    ``image_keys`` are features that hold encoded images: their bytes are kept, and their size is
    added as ``<key>/height``, ``<key>/width`` and ``<key>/channels`` (absent if the header is unreadable).
    """
    flat = flatten_features(example)
    features = {k: _feature(v) for k, v in sorted(flat.items())}
    for key in image_keys:
        size = image_size(bytes(np.asarray(flat[key]).item()))
        if size is not None:
            for name, value in zip(IMAGE_SIZE_FEATURES, size, strict=True):
                features[f"{key}/{name}"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=features))


def image_features(builder: Any) -> dict[str, Any]:
    """Flattened key -> ``tfds.features.Image`` for every image feature of the data set."""
    import tensorflow_datasets as tfds

    return {
        key: feature
        for key, feature in flatten_features(_feature_objects(builder.info.features)).items()
        if isinstance(feature, tfds.features.Image)
    }


def feature_metadata(builder: Any) -> dict[str, Any]:
    """Describe each written feature: original dtype, shape, encoding, class names."""
    import tensorflow_datasets as tfds

    tensor_info = flatten_features(builder.info.features.get_tensor_info())
    features = {}
    for key, info in sorted(tensor_info.items()):
        dtype = tf.as_dtype(info.dtype)
        if dtype.is_integer or dtype.is_bool:
            encoding = "int64_list"
        elif dtype.is_floating:
            encoding = "float_list"
        else:
            encoding = "bytes_list"
        features[key] = {"dtype": dtype.name, "shape": list(info.shape), "encoding": encoding}
    for key, feature in flatten_features(_feature_objects(builder.info.features)).items():
        if isinstance(feature, tfds.features.ClassLabel):
            features[key]["num_classes"] = feature.num_classes
            features[key]["names"] = list(feature.names)
        if isinstance(feature, tfds.features.Image):
            features[key]["encoding"] = "bytes_list"
            features[key]["image_format"] = feature.encoding_format or "png"
            for name in IMAGE_SIZE_FEATURES:
                features[f"{key}/{name}"] = {"dtype": "int64", "shape": [], "encoding": "int64_list"}
    return {
        "dataset": builder.name,
        "version": str(builder.version),
        "features": features,
        "splits": {name: split.num_examples for name, split in builder.info.splits.items()},
    }


def _feature_objects(features: Any) -> dict[str, Any]:
    import tensorflow_datasets as tfds

    out = {}
    for key, feature in features.items():
        out[key] = _feature_objects(feature) if isinstance(feature, tfds.features.FeaturesDict) else feature
    return out


def read_feature_metadata(examples_uri: str) -> dict[str, Any]:
    """Read the ``tfds_features.json`` written next to the splits of an Examples artifact."""
    with tf.io.gfile.GFile(os.path.join(examples_uri, FEATURES_FILE)) as f:
        return json.load(f)


def decode_feature(example: tf.train.Example, key: str, metadata: Mapping[str, Any]) -> np.ndarray:
    """Decode one feature of a written example back into its original dtype and shape (images decoded)."""
    spec = metadata["features"][key]
    feature = example.features.feature[key]
    values = getattr(feature, spec["encoding"]).value
    if "image_format" in spec:
        channels = spec["shape"][-1]
        return tf.io.decode_image(values[0], channels=channels, expand_animations=False).numpy()
    if spec["dtype"] == "string":
        return np.array(list(values), dtype=object).reshape(spec["shape"])
    shape = [d if d is not None and d >= 0 else -1 for d in spec["shape"]]
    return np.array(list(values)).astype(spec["dtype"]).reshape(shape)


def _decoders(image_keys: Sequence[str]) -> dict[str, Any]:
    """TFDS decoders that leave every image encoded (nested as the features are)."""
    import tensorflow_datasets as tfds

    decoders: dict[str, Any] = {}
    for key in image_keys:
        *parents, leaf = key.split("/")
        level = decoders
        for parent in parents:
            level = level.setdefault(parent, {})
        level[leaf] = tfds.decode.SkipDecoding()
    return decoders


class _ReadShard(beam.DoFn):
    """One TFDS file instruction (a shard, or part of one) -> serialized tf.Examples.

    The shard is read with tf.data in batches and converted row by row: one Beam step per
    example instead of one per TFDS element, conversion and serialization (ExampleGen's cost
    here was Beam's per-element overhead, not TFDS's reading).
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__()
        self.options = dict(options)
        self._builder: Any = None
        self._images: list[str] = []

    def setup(self) -> None:
        """Open the data set once per worker."""
        self._builder = load_builder(self.options)
        self._images = sorted(image_features(self._builder))

    def process(self, instruction: Any) -> Any:
        """Yield the shard's examples, serialized."""
        import tensorflow_datasets as tfds

        info = tfds.core.naming.FilenameInfo.from_str(instruction.filename)
        ds = self._builder.as_dataset(
            split=f"{info.split}[{info.shard_index}shard]", decoders=_decoders(self._images), shuffle_files=False
        )
        if instruction.skip > 0:
            ds = ds.skip(instruction.skip)
        if not instruction.takes_all:
            ds = ds.take(instruction.take)
        for batch in tfds.as_numpy(ds.batch(1024)):
            flat = flatten_features(batch)
            for row in range(len(next(iter(flat.values())))):
                example = to_tf_example({key: values[row] for key, values in flat.items()}, self._images)
                yield example.SerializeToString()


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _TFDSToExample(
    pipeline: beam.Pipeline,
    exec_properties: dict[str, Any],  # noqa: N802 (Beam style)
    split_pattern: str,
) -> beam.pvalue.PCollection:
    """Read the TFDS split expression ``split_pattern``: its file instructions, one shard per work item."""
    options = unpack_options(exec_properties)
    builder = load_builder(options)
    instructions = builder.info.splits[split_pattern].file_instructions
    return pipeline | "FileInstructions" >> beam.Create(instructions) | "ReadShards" >> beam.ParDo(_ReadShard(options))


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Reads each input split (a TFDS split expression) into tf.train.Examples."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 (TFX API)
        """Return the PTransform that reads one TFDS split expression."""
        return _TFDSToExample

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],  # noqa: N802
        exec_properties: dict[str, Any],
    ) -> None:
        """Write the splits, then the feature metadata beside them."""
        options = unpack_options(exec_properties)
        builder = load_builder(options)  # fail here, before Beam starts, if the data is missing
        super().Do(input_dict, output_dict, exec_properties)
        metadata = feature_metadata(builder)
        artifact = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        with tf.io.gfile.GFile(os.path.join(artifact.uri, FEATURES_FILE), "w") as f:
            json.dump(metadata, f, indent=2, sort_keys=True)
        artifact.set_string_custom_property("tfds_dataset", f"{metadata['dataset']}:{metadata['version']}")
        artifact.set_string_custom_property("tfds_features", json.dumps(metadata["features"], sort_keys=True))
