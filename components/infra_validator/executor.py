"""Executor of InfraValidator: stamp the model with warmup requests, try it in a server process, bless or not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

import tensorflow as tf
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from common.model_files import unsafe_entries
from components.examples_io import read_examples

REPORT_FILE = "infra_validation.json"
REQUESTS_FILE = "requests.tfrecord"
CONTRACT_FILE = "contract.json"
BACKSTOP_SECONDS = 60  # past the validation's own time limit: Python and TensorFlow start-up


class Executor(base_executor.BaseExecutor):
    """Copies the model, and has ``python -m serving.validate`` add its warmup requests and try it."""

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
        timeout = int(exec_properties["timeout_seconds"])
        contract = exec_properties.get("contract") or "{}"
        # Validated in a local folder (the serving code reads local files; on Kubeflow the artifacts are in
        # a bucket); the model that passed, warmup requests included, is then copied into the blessing.
        unsafe = unsafe_entries(model_path)
        if unsafe:  # not copied: a link to /dev/zero would be read without end
            self._verdict(blessing, False, f"the model folder holds what TF Serving would not serve: {unsafe[0]}")
            return
        with tempfile.TemporaryDirectory(prefix="infra_validation_") as local:
            candidate = os.path.join(local, "model")
            io_utils.copy_dir(model_path, candidate)
            requests_file, report_path = os.path.join(local, REQUESTS_FILE), os.path.join(local, REPORT_FILE)
            contract_file = os.path.join(local, CONTRACT_FILE)
            with open(contract_file, "w", encoding="utf-8") as f:
                f.write(contract)
            with tf.io.TFRecordWriter(requests_file) as writer:
                for example in serialized:
                    writer.write(example)
            command = [
                sys.executable, "-m", "serving.validate", "--model-dir", candidate, "--examples", requests_file,
                "--out", report_path, "--write-warmup", "--contract", contract_file, "--time-limit", str(timeout),
            ]  # fmt: skip
            if exec_properties.get("max_latency_ms"):
                command += ["--max-latency-ms", str(float(exec_properties["max_latency_ms"]))]
            if exec_properties.get("max_memory_mb"):
                command += ["--max-memory-mb", str(float(exec_properties["max_memory_mb"]))]
            try:  # the validation ends itself at its time limit, with a report; this is the backstop
                result = subprocess.run(command, capture_output=True, text=True, timeout=timeout + BACKSTOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._verdict(blessing, False, f"the serving process did not finish within {timeout} s")
                return
            if not os.path.isfile(report_path):
                tail = " ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
                self._verdict(blessing, False, f"the serving process failed (exit {result.returncode}): {tail}")
                return
            io_utils.copy_file(report_path, os.path.join(blessing.uri, REPORT_FILE), overwrite=True)
            with open(report_path, encoding="utf-8") as f:
                report = json.load(f)
            if report["blessed"]:
                io_utils.copy_dir(candidate, path_utils.stamped_model_path(blessing.uri))
        self._verdict(blessing, bool(report["blessed"]), report["reason"])

    @staticmethod
    def _verdict(blessing: Any, blessed: bool, reason: str) -> None:
        print(f"[infra] {'blessed' if blessed else 'NOT blessed'}: {reason}", flush=True)
        blessing.set_int_custom_property("blessed", int(blessed))
        blessing.set_int_custom_property("has_model", int(blessed))  # the Pusher pushes the stamped model
        blessing.set_string_custom_property("reason", reason)
