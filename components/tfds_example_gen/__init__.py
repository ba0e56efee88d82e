"""TFDSExampleGen: TensorFlow Datasets -> tf.Example TFRecords with named splits."""

from components.tfds_example_gen.component import DatasetNotPreparedError, TFDSExampleGen, TFDSExampleGenError

__all__ = ["DatasetNotPreparedError", "TFDSExampleGen", "TFDSExampleGenError"]
