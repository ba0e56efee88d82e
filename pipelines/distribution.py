"""``training.distribution``: the tf.distribute strategy, and which worker of a cluster exports.

``TF_CONFIG`` (as Vertex AI and Kubeflow set it for multi-replica jobs) is checked with messages that
say how to set it, and read with TensorFlow's own ``TFConfigClusterResolver``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf


def distribution_strategy(name: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy the config names; build and compile the model in its scope.

    * ``auto``: ``MirroredStrategy`` when there are two or more local GPUs, else the default strategy
      (a single device gains nothing from replication and pays for it in every step).
    * ``mirrored``: synchronous data parallelism over every local GPU (or the CPU when there is none).
    * ``multi_worker``: ``MultiWorkerMirroredStrategy``; the cluster and this worker's role come from
      ``TF_CONFIG`` (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}``),
      as Vertex AI and Kubeflow set it for multi-replica training jobs.
    * ``none``: TensorFlow's default strategy (no replication).
    """
    if name == "auto":
        name = "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "none"
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        cluster_spec(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"training.distribution={name!r} is not one of auto, mirrored, multi_worker, none")


def cluster_spec(tf_config: str | None) -> dict[str, Any]:
    """Parse and check ``TF_CONFIG``; a ValueError says what is missing and how to set it."""
    example = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
    if not tf_config:
        raise ValueError(f"training.distribution=multi_worker needs TF_CONFIG, e.g. TF_CONFIG='{example}'")
    try:
        parsed = json.loads(tf_config)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not JSON ({err}); expected e.g. {example}") from None
    workers = parsed.get("cluster", {}).get("worker") or []
    task = parsed.get("task", {})
    if not workers or task.get("type") not in ("worker", "chief") or not isinstance(task.get("index"), int):
        raise ValueError(f"TF_CONFIG needs cluster.worker addresses and task.type/index; expected e.g. {example}")
    if task["type"] == "worker" and not 0 <= task["index"] < len(workers):
        raise ValueError(f"TF_CONFIG task.index {task['index']} is not in 0..{len(workers) - 1}")
    return parsed


def is_chief() -> bool:
    """True unless ``TF_CONFIG`` makes this process a non-chief worker (which must not export)."""
    if not os.environ.get("TF_CONFIG"):
        return True
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if resolver.task_type == "chief":
        return True
    return "chief" not in resolver.cluster_spec().as_dict() and resolver.task_type == "worker" and resolver.task_id == 0


def export_dir(serving_model_dir: str, tmp_root: str) -> str:
    """Where this process saves the model: the real place on the chief, a scratch folder elsewhere.

    Under MultiWorkerMirroredStrategy every worker must run ``save`` (it has collective ops), but
    only the chief's copy is the model; the others write to ``tmp_root`` and it is discarded.
    """
    return serving_model_dir if is_chief() else os.path.join(tmp_root, f"worker-{os.getpid()}")
