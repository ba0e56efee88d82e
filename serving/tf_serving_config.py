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


def set_label(config_path: str, model: str, label: str, version: int, serving_root: str | None = None) -> dict:
    """Point ``label`` of ``model`` at ``version`` in the model config file, and record the move beside it.

    The config's ``version_labels`` are what TF Serving and ``tfx-keras serve --model-config-file`` read
    (the server re-reads the file as it polls). A label may only name a version that is served, so the
    policy becomes ``specific``: every labelled version and the newest on disk now. The move is appended
    to ``<config>.labels.jsonl`` (when, who, the label, from, to). Returns that record.

    Raises:
        ValueError: no such model in the config, a label that is not a name, or a version that is not a
            SavedModel on disk (under the config's base path, or under ``serving_root``).
    """
    import getpass
    import json
    import re
    import time

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", label):
        raise ValueError(f"label {label!r} must be a name (a letter, then letters, digits, _ or -): stable, canary")
    config = model_server_config_pb2.ModelServerConfig()
    with open(config_path, encoding="utf-8") as f:
        text_format.Parse(f.read(), config)
    entries = {m.name: m for m in config.model_config_list.config}
    if model not in entries:
        raise ValueError(f"model {model!r} is not in {config_path}: it holds {sorted(entries) or 'no model'}")
    entry = entries[model]
    base = (
        entry.base_path
        if os.path.isabs(entry.base_path)
        else os.path.join(os.path.dirname(config_path), entry.base_path)
    )
    folder = base if os.path.isdir(base) else os.path.join(serving_root or "", model)
    versions = version_dirs(folder) if os.path.isdir(folder) else {}
    if not versions:
        raise ValueError(
            f"no versions of {model} at {base}{f' or {folder}' if folder != base else ''}: give --serving-root, "
            "the folder on this machine that the config's base paths name"
        )
    if version not in versions or not os.path.isfile(os.path.join(versions[version], "saved_model.pb")):
        raise ValueError(f"{model} has no servable version {version} in {folder}: its versions are {sorted(versions)}")
    previous = entry.version_labels.get(label)
    entry.version_labels[label] = version
    entry.model_version_policy.specific.versions[:] = sorted({*entry.version_labels.values(), max(versions)})
    staged = f"{config_path}.partial"
    with open(staged, "w", encoding="utf-8") as f:
        f.write(text_format.MessageToString(config))
    os.replace(staged, config_path)  # a server polling the file reads the old or the new one, whole
    record = {"time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "user": getpass.getuser(),
              "model": model, "label": label, "from": previous, "to": version}  # fmt: skip
    with open(f"{config_path}.labels.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    return record
