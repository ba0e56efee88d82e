"""TFDSExampleGen: TensorFlow Datasets -> tf.Example TFRecords with named splits."""

from components.tfds_example_gen.component import TFDSExampleGen, TFDSExampleGenError

__all__ = ["TFDSExampleGen", "TFDSExampleGenError"]
