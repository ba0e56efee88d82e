"""Read a SavedModel's serving signatures from ``saved_model.pb`` without loading the model.

Shared by the server (which checks requests against them) and the infra validator (which builds
warmup requests from them). TensorFlow is imported when the function runs, not with this module.
"""

from __future__ import annotations

import os
from typing import Any


def read_signature_defs(saved_model_dir: str) -> dict[str, Any]:
    """The ``SignatureDef`` protos of the meta graph tagged ``serve``, by signature name.

    TF 2's ``__saved_model_init_op`` is left out (it is an initialiser, not a servable signature).
    ``saved_model_dir`` may be any path ``tf.io.gfile`` reads (local, ``gs://``). Raises
    ``ValueError`` if there is no ``serve`` meta graph.
    """
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return {k: v for k, v in meta_graph.signature_def.items() if not k.startswith("__")}
    raise ValueError(f"{saved_model_dir} has no meta graph tagged 'serve'")
