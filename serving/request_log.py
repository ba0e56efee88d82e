"""Request logging as TF Serving's ``logging_config`` describes it: sampled ``PredictionLog`` records on disk.

A model's ``logging_config`` in the model config file (or ``tfx-keras serve --request-log DIR
--sampling-rate R`` for every model) samples its requests: each Predict, Classify or Regress that
answered is kept with probability ``sampling_rate``, as a ``PredictionLog`` (request, response, model
name, version and signature, time) in TFRecord files ``<filename_prefix>-<time>-<n>.tfrecord``, the
format of TF Serving's warmup file and of TFX's BulkInferrer.

Nothing of it is on a request's path but a random draw and a queue append: the records are built,
serialized and written by one thread of their own. Both bounds hold whatever the traffic:

* memory: the queue holds at most ``queue_records`` records; a sampled request that finds it full
  is dropped and counted (``:tfx_keras:request_log_records{outcome="dropped"}``), never waited for;
* disk: a file is closed at ``max_file_mb`` or after ``rotate_seconds``, and the oldest closed
  files of a prefix are deleted while the prefix holds more than ``max_total_mb``.

A file is written as ``....tfrecord.partial`` and renamed when it is closed, so a reader
(``tfx-keras monitor``) only ever reads whole files.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf
from tensorflow_serving.apis import logging_pb2, model_pb2, prediction_log_pb2
from tensorflow_serving.config import logging_config_pb2

from serving.tensors import delimited

log = logging.getLogger(__name__)

COLLECTOR_TYPE = "tfrecord"  # the one log collector this server has
SUFFIX, PARTIAL = ".tfrecord", ".partial"


@dataclasses.dataclass(frozen=True)
class LogConfig:
    """One model's request logging: where (``filename_prefix``) and how often (``sampling_rate``)."""

    filename_prefix: str
    sampling_rate: float

    @classmethod
    def from_proto(cls, model: str, config: logging_config_pb2.LoggingConfig) -> LogConfig | None:
        """From TF Serving's ``LoggingConfig`` (None when it has no log collector).

        Raises:
            ValueError: a collector type other than ``tfrecord``, no prefix, or a rate outside [0, 1].
        """
        collector = config.log_collector_config
        if not collector.filename_prefix and not collector.type:
            return None
        if collector.type not in ("", COLLECTOR_TYPE):
            raise ValueError(
                f"model {model!r}: log_collector_config type {collector.type!r} is not one this server has: it "
                f'writes TFRecord files (type: "{COLLECTOR_TYPE}")'
            )
        if not collector.filename_prefix:
            raise ValueError(f"model {model!r}: log_collector_config needs a filename_prefix (where the files go)")
        rate = config.sampling_config.sampling_rate
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"model {model!r}: sampling_rate must be between 0 and 1, got {rate}")
        return cls(collector.filename_prefix, rate)


def logging_proto(directory: str, model: str, sampling_rate: float) -> logging_config_pb2.LoggingConfig:
    """The ``LoggingConfig`` of ``serve --request-log DIR``: ``DIR/<model>/requests-*.tfrecord``."""
    config = logging_config_pb2.LoggingConfig()
    config.log_collector_config.type = COLLECTOR_TYPE
    config.log_collector_config.filename_prefix = os.path.join(directory, model, "requests")
    config.sampling_config.sampling_rate = sampling_rate
    return config


def log_files(prefix_or_dir: str) -> list[str]:
    """The closed log files of a prefix, or under a folder (and its model folders), oldest first."""
    if os.path.isdir(prefix_or_dir):
        found = glob.glob(os.path.join(prefix_or_dir, f"*{SUFFIX}")) + glob.glob(
            os.path.join(prefix_or_dir, "*", f"*{SUFFIX}")
        )
    else:
        found = glob.glob(f"{glob.escape(prefix_or_dir)}-*{SUFFIX}")
    return sorted(found, key=lambda p: (os.path.basename(p), p))


def _metadata(model: str, version: int, signature: str, rate: float, when: float) -> bytes:
    meta = logging_pb2.LogMetadata(
        model_spec=model_pb2.ModelSpec(name=model, signature_name=signature),
        saved_model_tags=["serve"],
        timestamp_secs=int(when),
    )
    meta.model_spec.version.value = version
    meta.sampling_config.sampling_rate = rate
    return meta.SerializeToString()


# PredictionLog: log_metadata = 1, classify_log = 2, regress_log = 3, predict_log = 6; each *Log: request = 1,
# response = 2. Records are put together from their parts' wire bytes (the Predict response is already bytes).
KIND_FIELDS = {"classify": 2, "regress": 3, "predict": 6}


@dataclasses.dataclass
class _Record:
    model: str
    version: int
    signature: str
    kind: str
    request: Callable[[], bytes]  # called on the writer thread
    response: Callable[[], bytes]
    when: float


class _Sink:
    """The open file of one prefix, its size, and the rotation and disk bound."""

    def __init__(self, model: str, prefix: str, max_file_bytes: int, max_total_bytes: int) -> None:
        self.model = model
        self.prefix = prefix
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes
        self.writer: Any = None
        self.path = ""
        self.size = 0
        self.opened = 0.0
        self.count = 0
        os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)

    def write(self, record: bytes) -> int:
        """Write one record; returns how many files the disk bound deleted."""
        if self.writer is None:
            self.count += 1
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            self.path = f"{self.prefix}-{stamp}-{os.getpid()}-{self.count:05d}{SUFFIX}{PARTIAL}"
            self.writer = tf.io.TFRecordWriter(self.path)
            self.size, self.opened = 0, time.monotonic()
        self.writer.write(record)
        self.size += len(record) + 16  # TFRecord framing: length, two CRCs
        return self.close() if self.size >= self.max_file_bytes else 0

    def close(self) -> int:
        """Close the open file (renamed to its final name); returns how many old files were deleted."""
        if self.writer is None:
            return 0
        self.writer.close()
        self.writer = None
        os.replace(self.path, self.path[: -len(PARTIAL)])
        deleted = 0
        files = log_files(self.prefix)
        sizes = {p: os.path.getsize(p) for p in files}
        total = sum(sizes.values())
        for path in files:  # oldest first
            if total <= self.max_total_bytes:
                break
            os.remove(path)
            total -= sizes[path]
            deleted += 1
        return deleted


class RequestLogger:
    """Samples answered requests per model and writes them as PredictionLog TFRecords, on its own thread.

    Args:
        configs: model name -> its :class:`LogConfig` (a callable, asked again when a model is not known yet,
            so a config file's changes apply without a restart).
        max_file_mb: a file is closed at this size.
        max_total_mb: the oldest closed files of a prefix are deleted beyond this.
        rotate_seconds: a file is closed after this long, so readers see recent requests.
        queue_records: most records waiting for the writer; more are dropped and counted.
        count: called with ``(model, outcome)`` for each record: ``written``, ``dropped`` (queue full) or
            ``failed`` (could not be written); and ``(model, "deleted_files")`` per file the disk bound removed.
    """

    def __init__(
        self,
        configs: Callable[[str], LogConfig | None],
        max_file_mb: float = 64.0,
        max_total_mb: float = 1024.0,
        rotate_seconds: float = 60.0,
        queue_records: int = 10_000,
        count: Callable[[str, str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if max_file_mb <= 0 or max_total_mb < max_file_mb:
            raise ValueError(f"request log sizes: max_file_mb ({max_file_mb}) must be > 0 and <= max_total_mb")
        self.configs = configs
        self.max_file_bytes = int(max_file_mb * 1024 * 1024)
        self.max_total_bytes = int(max_total_mb * 1024 * 1024)
        self.rotate_seconds = rotate_seconds
        self.count = count or (lambda *_: None)
        self._random = (rng or random.Random()).random
        self._queue: queue.Queue[_Record | threading.Event | None] = queue.Queue(maxsize=queue_records)
        self._sinks: dict[str, _Sink] = {}
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()

    def sample(self, model: str) -> LogConfig | None:
        """The model's config if this request is to be logged (a random draw at its rate), else None."""
        config = self.configs(model)
        if config is None or config.sampling_rate <= 0.0:
            return None
        return config if config.sampling_rate >= 1.0 or self._random() < config.sampling_rate else None

    def offer(
        self,
        model: str,
        version: int,
        signature: str,
        kind: str,
        request: Callable[[], bytes],
        response: Callable[[], bytes],
    ) -> bool:
        """Queue one answered request (already sampled); False when the queue was full and it was dropped.

        ``request`` and ``response`` give the serialized request and response protos; they are called on
        the writer thread, so building them costs the request nothing.
        """
        try:
            self._queue.put_nowait(_Record(model, version, signature, kind, request, response, time.time()))
            return True
        except queue.Full:
            self.count(model, "dropped")
            return False

    def _run(self) -> None:
        while True:
            try:
                record = self._queue.get(timeout=min(self.rotate_seconds, 1.0))
            except queue.Empty:
                record = False  # type: ignore[assignment]
            if record is None or isinstance(record, threading.Event):
                self._close_all()
                if record is None:
                    return
                record.set()  # flush(): everything before it is written and its files closed
                continue
            if record:
                self._write(record)
            now = time.monotonic()
            for sink in self._sinks.values():
                if sink.writer is not None and now - sink.opened >= self.rotate_seconds:
                    self._count_deleted(sink, sink.close())

    def _close_all(self) -> None:
        for sink in self._sinks.values():
            self._count_deleted(sink, sink.close())

    def _count_deleted(self, sink: _Sink, deleted: int) -> None:
        for _ in range(deleted):
            self.count(sink.model, "deleted_files")

    def _write(self, record: _Record) -> None:
        config = self.configs(record.model)
        if config is None:
            return
        try:
            body = delimited(1, record.request()) + delimited(2, record.response())
            data = delimited(1, _metadata(record.model, record.version, record.signature, config.sampling_rate,
                                           record.when)) + delimited(KIND_FIELDS[record.kind], body)  # fmt: skip
            sink = self._sinks.get(config.filename_prefix)
            if sink is None:
                sink = self._sinks[config.filename_prefix] = _Sink(
                    record.model, config.filename_prefix, self.max_file_bytes, self.max_total_bytes
                )
            self._count_deleted(sink, sink.write(data))
            self.count(record.model, "written")
        except Exception:  # noqa: BLE001 - a log that cannot be written never stops serving
            log.exception("request log for %s could not be written", record.model)
            self.count(record.model, "failed")

    def flush(self, timeout: float = 30.0) -> bool:
        """Write every queued record and close the open files, so readers see them; False on timeout."""
        done = threading.Event()
        self._queue.put(done, timeout=timeout)
        return done.wait(timeout)

    def stop(self) -> None:
        """Write what is queued, close every file (renamed to its final name) and stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=30)


def read_logs(paths: Sequence[str]) -> list[prediction_log_pb2.PredictionLog]:
    """The PredictionLog records of closed log files (a file that is not TFRecord raises ``DataLossError``)."""
    logs = []
    for path in paths:
        for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
            logs.append(prediction_log_pb2.PredictionLog.FromString(raw))
    return logs
