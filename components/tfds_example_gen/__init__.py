"""TFDSExampleGen: TensorFlow Datasets -> tf.Example TFRecords with named splits."""

from components.tfds_example_gen.component import (
    DatasetDamagedError,
    DatasetDownloadError,
    DatasetNotPreparedError,
    TFDSExampleGen,
    TFDSExampleGenError,
    prepared_builder,
)

__all__ = [
    "DatasetDamagedError",
    "DatasetDownloadError",
    "DatasetNotPreparedError",
    "TFDSExampleGen",
    "TFDSExampleGenError",
    "prepared_builder",
]
