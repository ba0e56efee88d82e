"""Production serving configuration: TensorFlow Serving's model config file for the pushed models.

TensorFlow Serving (the ``tensorflow/serving`` Docker image, gRPC on 8500 and REST on 8501)
reads ``--model_config_file``: one ``config`` entry per model with its ``base_path``, under
which the Pusher writes ``<version>/`` folders. ``serving/docker-compose.yml`` mounts the
serving root at ``/models`` and points TF Serving at ``/models/models.config``.
"""

from __future__ import annotations

import os
import posixpath

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from common.layout import model_folders, version_dirs

CONFIG_NAME = "models.config"
CONTAINER_ROOT = "/models"  # where docker-compose.yml mounts the serving root


def model_versions(serving_root: str) -> dict[str, list[int]]:
    """Model name -> version numbers on disk, for every model folder under the serving root."""
    models = {}
    for name, folder in model_folders(serving_root).items():
        versions = sorted(version_dirs(folder))
        if versions:
            models[name] = versions
    return models


def build_model_config(
    models: list[str], base_path: str = CONTAINER_ROOT, labels: dict[str, dict[str, int]] | None = None
) -> model_server_config_pb2.ModelServerConfig:
    """A ``ModelServerConfig`` serving the latest version of each model under ``base_path``."""
    config = model_server_config_pb2.ModelServerConfig()
    for name in models:
        model = config.model_config_list.config.add()
        model.name = name
        model.base_path = posixpath.join(base_path, name)
        model.model_platform = "tensorflow"
        model.model_version_policy.latest.num_versions = 1
        for label, version in (labels or {}).get(name, {}).items():
            model.version_labels[label] = version
    return config


def write_model_config(serving_root: str, base_path: str = CONTAINER_ROOT, out: str | None = None) -> str:
    """Write TF Serving's model config for every model pushed under ``serving_root``; returns its path."""
    models = model_versions(serving_root)
    if not models:
        raise ValueError(
            f"no pushed models under {serving_root} (expected <model>/<version>/ folders): "
            "run a pipeline first (`tfx-keras run TASK`)"
        )
    path = out or os.path.join(serving_root, CONFIG_NAME)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text_format.MessageToString(build_model_config(sorted(models), base_path)))
    return path
