"""TFDSExampleGen: TensorFlow Datasets -> tf.Example TFRecords with named splits."""

from components.tfds_example_gen.component import (
    DatasetDownloadError,
    DatasetNotPreparedError,
    TFDSExampleGen,
    TFDSExampleGenError,
)

__all__ = ["DatasetDownloadError", "DatasetNotPreparedError", "TFDSExampleGen", "TFDSExampleGenError"]
