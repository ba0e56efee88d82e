"""A Pusher that never leaves a half-written model in the serving directory.

TFX's Pusher copies the SavedModel file by file straight into
``<base>/<version>/``; a run killed mid-copy leaves a version directory that
TensorFlow Serving (which serves the highest numeric version) may try to
load. This Pusher copies into a hidden staging directory beside the target
(``<base>/.staging-<version>-<id>``; TF Serving ignores non-numeric names) and
publishes it with a single ``rename``, which is atomic on a local POSIX file
system. Versions are Unix timestamps, as TFX's, and strictly increase.

Whether a model may be pushed at all is decided upstream: only a model that
the Evaluator blessed (above the absolute threshold *and* no worse than the
last blessed model) reaches this executor's copy step.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from typing import Any

import tensorflow as tf
from absl import logging
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.components.pusher.component import Pusher
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from common.layout import STAGING_PREFIX, version_dirs
from common.metadata_names import ROLLED_BACK_KEY

STALE_STAGING_SECONDS = 3600


def existing_versions(base_dir: str) -> list[int]:
    """Numeric version directories under ``base_dir`` (what TF Serving would consider)."""
    return sorted(version_dirs(base_dir, listdir=tf.io.gfile.listdir, isdir=tf.io.gfile.isdir))


def _clean_stale_staging(base_dir: str) -> None:
    """Remove staging directories left by pushes that died more than an hour ago."""
    now = time.time()
    for name in tf.io.gfile.listdir(base_dir):
        name = name.rstrip("/")
        path = os.path.join(base_dir, name)
        if (
            name.startswith(STAGING_PREFIX)
            and os.path.exists(path)
            and now - os.path.getmtime(path) > STALE_STAGING_SECONDS
        ):
            logging.info("removing stale staging directory %s", path)
            shutil.rmtree(path, ignore_errors=True)


def publish_model(model_path: str, base_dir: str, now: float | None = None) -> tuple[str, str]:
    """Copy the SavedModel at ``model_path`` to ``base_dir/<version>`` atomically.

    Args:
        model_path: the SavedModel directory to publish.
        base_dir: the model's serving directory (``<serving_root>/<model_name>``).
        now: timestamp to use as version (default: the current time).

    Returns:
        (version, serving path).

    Raises:
        FileNotFoundError: ``model_path`` holds no ``saved_model.pb``.
    """
    if not tf.io.gfile.exists(os.path.join(model_path, "saved_model.pb")):
        raise FileNotFoundError(f"{model_path} is not a SavedModel (no saved_model.pb); nothing pushed")
    tf.io.gfile.makedirs(base_dir)
    _clean_stale_staging(base_dir)
    versions = existing_versions(base_dir)
    version = max(int(now if now is not None else time.time()), (versions[-1] + 1) if versions else 0)
    staging = os.path.join(base_dir, f"{STAGING_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    try:
        io_utils.copy_dir(model_path, staging)
        while True:
            target = os.path.join(base_dir, str(version))
            if not tf.io.gfile.exists(target):
                try:
                    tf.io.gfile.rename(staging, target, overwrite=False)
                    break
                except tf.errors.OpError:  # another push won the race for this version
                    if not tf.io.gfile.exists(staging):
                        raise
            version += 1
    finally:
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
    return str(version), target


class AtomicPusherExecutor(tfx_pusher_executor.Executor):
    """TFX Pusher executor with an atomic filesystem push."""

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],  # noqa: N802 (TFX API)
        exec_properties: dict[str, Any],
    ) -> None:
        """Push the model if blessed; mark the output artifact pushed or not."""
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        judged = [*(input_dict.get(standard_component_specs.MODEL_KEY) or []), *input_dict["model_blessing"]]
        if any(a.get_int_custom_property(ROLLED_BACK_KEY) == 1 for a in judged):  # `serving rollback` took it out
            logging.warning("the model was rolled back (tfx-keras serving rollback): it is not pushed again")
            model_push.set_string_custom_property("reason", "this model was rolled back; it is not pushed again")
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("AtomicPusher pushes to a filesystem destination only")
        version, serving_path = publish_model(model_path, destination.filesystem.base_directory)
        logging.info("Model published to %s", serving_path)
        io_utils.copy_dir(model_path, model_push.uri)  # archive copy, as TFX's Pusher
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)


class AtomicPusher(Pusher):
    """``tfx.components.Pusher`` whose filesystem push is atomic (see module docstring)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)
