"""TFDSExampleGen: a TFX ExampleGen that reads any TensorFlow Datasets data set by name.

Built the way TFX builds non-file ExampleGens (its Presto example): a
``QueryBasedExampleGen`` whose executor overrides
``GetInputSourceToExamplePTransform``; each output split's *source* is a TFDS
split expression carried in the split's ``pattern``; typed options are packed
into ``custom_config``. Arguments are checked here, when the pipeline is
built, so that a typo fails at once with a clear message instead of deep
inside a Beam job.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from tfx.components.example_gen.component import QueryBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from common.splits import SPLIT_NAME
from components.example_gen_options import pack_options
from components.tfds_example_gen import executor


class TFDSExampleGenError(ValueError):
    """A TFDSExampleGen argument is wrong; the message says which and how to fix it."""


class DatasetNotPreparedError(TFDSExampleGenError):
    """The data set is not in ``data_dir`` and downloading is off."""

    def __init__(self, dataset: str, data_dir: str) -> None:
        super().__init__(executor.missing_dataset_message(dataset, data_dir))
        self.dataset = dataset
        self.data_dir = data_dir


class DatasetDownloadError(TFDSExampleGenError):
    """Downloading was asked for, but this machine cannot reach TensorFlow Datasets' download host."""

    def __init__(self, dataset: str, data_dir: str, reason: str) -> None:
        super().__init__(executor.download_failed_message(dataset, data_dir, reason))
        self.dataset = dataset
        self.data_dir = data_dir


class DatasetDamagedError(TFDSExampleGenError):
    """The prepared data set's files are damaged or missing: its metadata is unreadable, or a shard it names is gone."""

    def __init__(self, dataset: str, data_dir: str, problem: str) -> None:
        super().__init__(
            f"TFDS data set '{dataset}' in {data_dir} is damaged: {problem}. Import or prepare it again "
            f"(`tfx-keras data import {dataset} --source DIR --data-dir {data_dir} --overwrite`, or --download)."
        )
        self.dataset = dataset
        self.data_dir = data_dir


def prepared_builder(dataset: str, version: str | None, data_dir: str | None) -> Any:
    """The TFDS builder of a data set prepared in ``data_dir`` (None when it is not prepared there).

    Raises:
        DatasetDamagedError: its ``dataset_info.json`` cannot be read, or a shard file it names is missing.
    """
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import constants

    where = data_dir or constants.DATA_DIR
    name = dataset + (f":{version}" if version else "")
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        if not builder.is_prepared():
            return None
        splits = builder.info.splits
    except Exception as err:  # noqa: BLE001 - protobuf's ParseError, JSON and OS errors of damaged metadata
        raise DatasetDamagedError(dataset, where, f"its metadata cannot be read ({type(err).__name__})") from None
    for split_name, split in splits.items():
        missing = [str(path) for path in split.filepaths if not os.path.isfile(path)]
        if missing:
            shown = os.path.basename(missing[0]) + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            raise DatasetDamagedError(dataset, where, f"split {split_name!r} misses its file(s) {shown}")
    return builder


def _check_dataset_name(dataset: str) -> None:
    import tensorflow_datasets as tfds

    known = tfds.list_builders(with_community_datasets=False)
    if dataset not in known:
        close = difflib.get_close_matches(dataset, known, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise TFDSExampleGenError(f"Unknown TFDS data set {dataset!r}.{hint} See tfds.list_builders().")


def _check_split(name: str, expression: str, prepared_splits: Any) -> None:
    import tensorflow_datasets as tfds

    if not SPLIT_NAME.match(name):
        raise TFDSExampleGenError(f"Output split name {name!r} must be an identifier like 'train' or 'eval'.")
    try:
        tfds.core.ReadInstruction.from_spec(expression)
    except (ValueError, AssertionError) as err:
        raise TFDSExampleGenError(
            f"Split {name!r}: {expression!r} is not a TFDS split expression ({err}). Examples: "
            "'train', 'train[:80%]', 'train[80%:]', 'test[:1000]', 'train+test'."
        ) from err
    if prepared_splits is None:
        return
    try:
        selected = prepared_splits[expression].num_examples
    except (ValueError, KeyError, AssertionError) as err:
        sizes = {k: v.num_examples for k, v in prepared_splits.items()}
        raise TFDSExampleGenError(
            f"Split {name!r}: {expression!r} does not fit the data set, whose splits are {sizes} ({err})."
        ) from err
    if selected <= 0:
        raise TFDSExampleGenError(f"Split {name!r}: {expression!r} selects no examples.")


def _prepared_info(dataset: str, version: str | None, data_dir: str | None) -> tuple[Any, str]:
    """Return (TFDS SplitDict, fingerprint) of a locally prepared data set, or (None, '') when not local."""
    if data_dir and "://" in data_dir:  # remote (gs://...): checked by the executor on the cluster
        return None, ""
    builder = prepared_builder(dataset, version, data_dir)
    if builder is None:
        return None, ""
    shard_lengths = {k: list(v.shard_lengths) for k, v in builder.info.splits.items()}
    # The files themselves too (name, size, modification time, as TFX's file-based ExampleGens do):
    # data rewritten in place, without new TFDS metadata, must not be served from the cache.
    files = sorted(
        (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
        for entry in os.scandir(builder.data_dir)
        if entry.is_file()
    )
    blob = json.dumps(
        [
            str(builder.version),
            builder.data_dir,
            shard_lengths,
            {k: v.num_bytes for k, v in builder.info.splits.items()},
            files,
        ],
        sort_keys=True,
    )
    return builder.info.splits, hashlib.sha256(blob.encode()).hexdigest()[:16]


class TFDSExampleGen(QueryBasedExampleGen):
    """Reads a TensorFlow Datasets data set into tf.Example TFRecords with named splits.

    Example::

        TFDSExampleGen(dataset='mnist',
                       splits={'train': 'train[:90%]', 'eval': 'train[90%:]', 'test': 'test'},
                       data_dir='~/tensorflow_datasets')
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        dataset: str,
        splits: Mapping[str, str],
        version: str | None = None,
        data_dir: str | None = None,
        download: bool = False,
    ) -> None:
        """Checks the arguments and builds the component.

        Args:
            dataset: a TFDS builder name, e.g. ``'mnist'``.
            splits: output split name -> TFDS split expression.
            version: optional data set version, e.g. ``'3.0.1'``; default: the builder's.
            data_dir: TFDS data directory; default: TFDS's (``~/tensorflow_datasets``).
            download: let the executor download and prepare the data set when it is
                not in ``data_dir`` (needs network). Off by default: an offline
                machine gets a clear error naming the import command instead.

        Raises:
            TFDSExampleGenError: unknown data set, bad split name or expression.
        """
        if not splits:
            raise TFDSExampleGenError("splits is empty; give e.g. {'train': 'train', 'eval': 'test'}")
        _check_dataset_name(dataset)
        prepared, fingerprint = _prepared_info(dataset, version, data_dir)
        for name, expression in splits.items():
            _check_split(name, expression, prepared)
        if prepared is None and not (data_dir and "://" in data_dir):
            from tensorflow_datasets.core import constants

            local_dir = os.path.expanduser(data_dir or constants.DATA_DIR)
            if not download:
                raise DatasetNotPreparedError(dataset, local_dir)
            # Fail in seconds, not after minutes of retries inside the executor, when there is no network.
            unreachable = executor.download_host_unreachable()
            if unreachable:
                raise DatasetDownloadError(dataset, local_dir, unreachable)

        # The fingerprint of the prepared files is part of the execution properties,
        # so re-importing different data invalidates the cache; unchanged data is cached.
        custom_config = pack_options(
            {
                "dataset": dataset,
                "version": version or "",
                "data_dir": data_dir or "",
                "download": download,
                "fingerprint": fingerprint,
            }
        )
        input_config = example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name=name, pattern=expr) for name, expr in splits.items()]
        )
        super().__init__(input_config=input_config, custom_config=custom_config)
