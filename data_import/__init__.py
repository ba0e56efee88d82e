"""Offline import of upstream data files into a TensorFlow Datasets ``data_dir``: one module per format.

:mod:`data_import.idx` (MNIST, Fashion-MNIST) and :mod:`data_import.cifar` (CIFAR-10) read and write the
upstream files; :mod:`data_import.tfds_builder` checks them against the public TFDS builder and prepares
the data set under its public name (``tfx-keras data import``). Not a TFX component: a step before one.
"""
