"""A pushed model's serving contract, as a client is written against it: signatures, tensors, tf.Example features.

Read from the SavedModel itself (its ``SignatureDef`` protos and the ``EXAMPLE_FEATURES_FILE`` the
export writes), never from what a page says: ``docs/serving-contract.md`` is generated with
:func:`describe` from the models the pipelines push, and a test compares the two.

    python -m serving.contract outputs/serving/mnist/<version> mnist   # the markdown of one model
"""

from __future__ import annotations

import json
import os
import sys

import tensorflow as tf

from common.contract import EXAMPLE_FEATURES_FILE
from serving.servable import read_signature_defs
from serving.tensors import dtype_name


def _shape(info: object) -> str:
    shape = info.tensor_shape  # type: ignore[attr-defined]
    if shape.unknown_rank:
        return "any shape"
    return "[" + ", ".join("?" if d.size < 0 else str(d.size) for d in shape.dim) + "]"


def _tensors(infos: object) -> str:
    return "<br>".join(
        f"`{name}` {dtype_name(info.dtype)} {_shape(info)}"
        for name, info in sorted(infos.items())  # type: ignore[attr-defined]
    )


def example_features(saved_model_dir: str) -> dict[str, dict]:
    """How the model parses each tf.Example (feature -> kind, dtype, shape, default); {} if not recorded."""
    path = os.path.join(saved_model_dir, EXAMPLE_FEATURES_FILE)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def describe(saved_model_dir: str, title: str) -> str:
    """The contract of one SavedModel as a markdown section titled ``title``."""
    lines = [
        f"## {title}",
        "",
        "| signature | method | inputs | outputs |",
        "|---|---|---|---|",
    ]
    for name, signature in sorted(read_signature_defs(saved_model_dir).items()):
        method = signature.method_name.rsplit("/", 1)[-1]
        lines.append(f"| `{name}` | {method} | {_tensors(signature.inputs)} | {_tensors(signature.outputs)} |")
    features = example_features(saved_model_dir)
    if features:
        lines += [
            "",
            "Each serialized `tf.train.Example` (`serving_default`, Classify, Regress) holds:",
            "",
            "| feature | type | values | if absent |",
            "|---|---|---|---|",
        ]
        for feature, spec in sorted(features.items()):
            if spec["kind"] == "var":
                values, absent = "any number", "none"
            else:
                values = "one" if spec["shape"] in ([], [1]) else f"shape {spec['shape']}"
                absent = "refused" if spec.get("default") is None else f"`{json.dumps(spec['default'])}`"
            lines.append(f"| `{feature}` | {spec['dtype']} | {values} | {absent} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the contract of the SavedModel folder ``argv[0]`` titled ``argv[1]`` (default: the folder name)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or len(args) > 2:
        print("usage: python -m serving.contract SAVED_MODEL_DIR [TITLE]", file=sys.stderr)
        return 2
    print(describe(args[0], args[1] if len(args) > 1 else os.path.basename(os.path.normpath(args[0]))), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
