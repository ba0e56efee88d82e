"""Executor of InfraValidator: stamp the model with warmup requests, try it in a server process, bless or not."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from common.contract import (
    CLASSIFY_SIGNATURE,
    EXAMPLES_INPUT,
    INFERENCE_INPUT,
    MAX_WARMUP_RECORDS,
    REGRESS_SIGNATURE,
    WARMUP_FILE,
)
from common.signatures import read_signature_defs

REPORT_FILE = "infra_validation.json"
REQUESTS_FILE = "requests.tfrecord"


def read_examples(examples_uri: str, split: str, count: int) -> list[bytes]:
    """The first ``count`` serialized examples of a split of an Examples artifact (gzip TFRecords)."""
    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    if not files:
        raise FileNotFoundError(f"{examples_uri} has no split {split!r} to build requests from")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(count)
    return list(dataset.as_numpy_iterator())


def _blank_tensor(info: Any) -> tf.Tensor:
    """A one-example tensor of an input's dtype and shape: zeros, or empty strings."""
    shape = [1 if d.size < 0 else d.size for d in info.tensor_shape.dim]
    dtype = tf.dtypes.as_dtype(info.dtype)
    if dtype == tf.string:
        return tf.make_tensor_proto(np.full(shape, b"", dtype=object))
    return tf.make_tensor_proto(np.zeros(shape, dtype=dtype.as_numpy_dtype))


def warmup_requests(model_dir: str, examples: list[bytes]) -> list[prediction_log_pb2.PredictionLog]:
    """TF Serving's warmup records for the model: every signature, built from real examples where it takes them.

    Signatures that take serialized examples (Predict on ``serving_default``, Classify, Regress) get
    the examples, one at a time and all together; other signatures (e.g. ``serving_raw``) get one
    blank example of their input shapes, which traces and allocates the same way.
    """
    records = []
    batches = [examples[:1], examples]
    for name, signature in sorted(read_signature_defs(model_dir).items()):
        for batch in batches if set(signature.inputs) in ({EXAMPLES_INPUT}, {INFERENCE_INPUT}) else [None]:
            log = prediction_log_pb2.PredictionLog()
            if name in (CLASSIFY_SIGNATURE, REGRESS_SIGNATURE) and signature.method_name.endswith(
                ("classify", "regress")
            ):
                request = log.classify_log.request if name == CLASSIFY_SIGNATURE else log.regress_log.request
                request.model_spec.signature_name = name
                request.input.example_list.examples.extend(tf.train.Example.FromString(e) for e in batch)
            else:
                request = log.predict_log.request
                request.model_spec.signature_name = name
                for input_name, info in signature.inputs.items():
                    tensor = (
                        tf.make_tensor_proto(np.array(batch, dtype=object))
                        if batch is not None
                        else _blank_tensor(info)
                    )
                    request.inputs[input_name].CopyFrom(tensor)
            records.append(log)
    return records[:MAX_WARMUP_RECORDS]


def write_warmup(model_dir: str, records: list[prediction_log_pb2.PredictionLog]) -> str:
    """Write ``assets.extra/tf_serving_warmup_requests`` into a SavedModel folder; returns its path."""
    path = os.path.join(model_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    return path


class Executor(base_executor.BaseExecutor):
    """Stamps the model with warmup requests and validates it with ``python -m serving.validate``."""

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],  # noqa: N802 (TFX API)
        exec_properties: dict[str, Any],
    ) -> None:
        """Write the InfraBlessing: blessed or not, why, and the stamped model."""
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])
        evaluator_blessing = input_dict.get("model_blessing") or []
        if evaluator_blessing and not model_utils.is_model_blessed(evaluator_blessing[0]):
            self._verdict(blessing, False, "the Evaluator did not bless the model, so it was not tried")
            return
        model = artifact_utils.get_single_instance(input_dict["model"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        model_path = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
        serialized = read_examples(examples.uri, exec_properties["split"], int(exec_properties["num_examples"]))
        stamped = path_utils.stamped_model_path(blessing.uri)
        io_utils.copy_dir(model_path, stamped)
        write_warmup(stamped, warmup_requests(stamped, serialized))
        requests_file = os.path.join(blessing.uri, REQUESTS_FILE)
        with tf.io.TFRecordWriter(requests_file) as writer:
            for example in serialized:
                writer.write(example)
        report_path = os.path.join(blessing.uri, REPORT_FILE)
        timeout = int(exec_properties["timeout_seconds"])
        command = [
            sys.executable,
            "-m",
            "serving.validate",
            "--model-dir",
            stamped,
            "--examples",
            requests_file,
            "--out",
            report_path,
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self._verdict(blessing, False, f"the serving process did not finish within {timeout} s")
            return
        if not os.path.isfile(report_path):
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            self._verdict(blessing, False, f"the serving process failed (exit {result.returncode}): {' '.join(tail)}")
            return
        with open(report_path, encoding="utf-8") as f:
            report = json.load(f)
        self._verdict(blessing, bool(report["blessed"]), report["reason"])

    @staticmethod
    def _verdict(blessing: Any, blessed: bool, reason: str) -> None:
        print(f"[infra] {'blessed' if blessed else 'NOT blessed'}: {reason}", flush=True)
        blessing.set_int_custom_property("blessed", int(blessed))
        blessing.set_int_custom_property("has_model", int(blessed))  # the Pusher pushes the stamped model
        blessing.set_string_custom_property("reason", reason)
