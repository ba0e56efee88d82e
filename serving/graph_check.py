"""What TensorFlow Serving cannot run, found in a SavedModel's graph without running it.

TF Serving is a C++ binary: it has no Python, so no kernel for ``tf.py_function`` / ``tf.numpy_function``
(the ops ``EagerPyFunc``, ``PyFunc``, ``PyFuncStateless``), and it links no custom-op library of
the training host. It refuses such a graph when it loads it ("Op type not registered"), whatever
branch the op is on. A test that only *calls* the model misses an op on a branch its inputs never
take (a ``tf.py_function`` used for batches over 100 rows). This module walks every function of the
serving meta graph, and the functions they call (``PartitionedCall``, ``If``, ``While``, ``Case``
...), and names each such op and the signature that reaches it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from tensorflow.core.framework import attr_value_pb2, graph_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving.servable import read_serving_meta_graph, signature_defs_of

PYTHON_OPS = {
    "EagerPyFunc": "tf.py_function",
    "PyFunc": "tf.numpy_function",
    "PyFuncStateless": "tf.numpy_function",
}


class UnservableModelError(ValueError):
    """The model's graph has an op TF Serving cannot run; the version is not loaded."""


@dataclasses.dataclass(frozen=True)
class UnservableOp:
    """An op TF Serving cannot run, where it is."""

    op: str
    signature: str
    why: str

    def __str__(self) -> str:
        return f"signature {self.signature} uses op {self.op}: {self.why}"


def _called(attr: attr_value_pb2.AttrValue) -> Iterator[str]:
    """The function names an op attribute refers to (``f``, ``then_branch``, ``branches`` ...)."""
    if attr.HasField("func"):
        yield attr.func.name
    if attr.HasField("list"):
        yield from (f.name for f in attr.list.func)


def _ops(graph: graph_pb2.GraphDef, nodes: list) -> set[str]:  # type: ignore[type-arg]
    """Every op type in ``nodes`` and in the library functions they reach, transitively."""
    library = {f.signature.name: f for f in graph.library.function}
    seen: set[str] = set()
    ops: set[str] = set()
    pending = list(nodes)
    functions: list[str] = []
    while pending or functions:
        while pending:
            node = pending.pop()
            ops.add(node.op)
            if node.op in library:  # a function called directly by name
                functions.append(node.op)
            for attr in node.attr.values():
                functions.extend(_called(attr))
        while functions:
            name = functions.pop()
            if name in seen or name not in library:
                continue
            seen.add(name)
            pending.extend(library[name].node_def)
    return ops


def unservable_ops(model: str | meta_graph_pb2.MetaGraphDef) -> list[UnservableOp]:
    """Ops of a SavedModel's serving signatures that TF Serving cannot run (empty: none found).

    ``model`` is the SavedModel's folder, or its serving meta graph when the caller has read it.
    Python-function ops are always refused; an op unknown to this process's TensorFlow (a custom op)
    is refused too, since TF Serving links only TensorFlow's own ops.
    """
    from tensorflow.python.framework import op_def_registry

    meta_graph = read_serving_meta_graph(model) if isinstance(model, str) else model
    graph = meta_graph.graph_def
    by_name = {node.name: node for node in graph.node}
    found = []
    for signature_name, signature in sorted(signature_defs_of(meta_graph).items()):
        outputs = [by_name.get(info.name.split(":")[0]) for info in signature.outputs.values()]
        ops = _ops(graph, [node for node in outputs if node is not None])
        for op in sorted(ops):
            if op in PYTHON_OPS:
                why = f"a {PYTHON_OPS[op]} (Python), which TF Serving has no kernel for: rewrite it with TensorFlow ops"
            elif op_def_registry.get(op) is None and op not in {f.signature.name for f in graph.library.function}:
                why = "not a TensorFlow op (a custom-op library?): TF Serving would not load the model"
            else:
                continue
            found.append(UnservableOp(op, signature_name, why))
    return found
