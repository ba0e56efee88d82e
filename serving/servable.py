"""A servable, in TF Serving's words: one loaded SavedModel version, its signatures and their SignatureDefs.

What requests are answered from (:mod:`serving.signatures`), what the store loads and swaps
(:mod:`serving.model_store`) and what warmup replays against (:mod:`serving.warmup`); it imports none
of them. A request names its servable with a :class:`ModelRef`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, Protocol

import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from serving.status import invalid


@dataclasses.dataclass
class LoadedVersion:
    """A loaded SavedModel version: callable signatures and their ``SignatureDef`` protos.

    ``cache`` keeps what requests would otherwise look up each time (signature functions and input
    specs), for the life of the version.
    """

    model_name: str
    version: int
    path: str
    saved_model: Any
    signature_defs: Mapping[str, meta_graph_pb2.SignatureDef]
    cache: dict[Any, Any] = dataclasses.field(default_factory=dict)
    warmup_records: int = 0

    def signature(self, name: str) -> Any:
        """The concrete function of signature ``name`` (KeyError if it does not exist)."""
        return self.saved_model.signatures[name]


class ServableLookup(Protocol):
    """Where a request finds its servable (the model store): by name, and a version or a label."""

    def get(self, name: str, version: int | None = None, label: str | None = None) -> LoadedVersion:
        """The loaded version, or the error TF Serving gives (NOT_FOUND, INVALID_ARGUMENT)."""
        ...


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """Which model version a request asks for: the latest, a version, or a label."""

    name: str
    version: int | None = None
    label: str | None = None

    def resolve(self, store: ServableLookup) -> LoadedVersion:
        """The loaded version, or the error TF Serving gives."""
        if not self.name:
            raise invalid("Missing ModelSpec name")
        if self.version is not None and self.label:
            raise invalid(
                f"Both model version ({self.version}) and model version label ({self.label}) cannot be supplied."
            )
        return store.get(self.name, version=self.version, label=self.label)


def read_serving_meta_graph(saved_model_dir: str) -> meta_graph_pb2.MetaGraphDef:
    """The meta graph tagged ``serve`` in ``saved_model.pb`` (nothing loaded)."""
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return meta_graph
    raise ValueError(f"{saved_model_dir} has no meta graph tagged 'serve'")


def signature_defs_of(meta_graph: meta_graph_pb2.MetaGraphDef) -> dict[str, meta_graph_pb2.SignatureDef]:
    """A meta graph's servable signatures (``__saved_model_init_op`` is TF 2's initialiser, not one)."""
    return {k: v for k, v in meta_graph.signature_def.items() if not k.startswith("__")}


def read_signature_defs(saved_model_dir: str) -> dict[str, meta_graph_pb2.SignatureDef]:
    """The ``SignatureDef`` protos of the serving meta graph in ``saved_model.pb`` (nothing loaded)."""
    return signature_defs_of(read_serving_meta_graph(saved_model_dir))
