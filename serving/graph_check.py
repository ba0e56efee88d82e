"""What TensorFlow Serving cannot run, found in a SavedModel's graph without running it.

TF Serving is a C++ binary: it has no Python, so no kernel for ``tf.py_function`` / ``tf.numpy_function``
(the ops ``EagerPyFunc``, ``PyFunc``, ``PyFuncStateless``), and it links no custom-op library of
the training host. It refuses such a graph when it loads it ("Op type not registered"), whatever
branch the op is on. A test that only *calls* the model misses an op on a branch its inputs never
take (a ``tf.py_function`` used for batches over 100 rows). This module walks every function of the
serving meta graph, and the functions they call (``PartitionedCall``, ``If``, ``While``, ``Case``
...), and names each such op and the signature that reaches it.

Production TF Serving also sees only the model's own folder: an op that reads or writes a file
(``ReadFile``, a file-backed lookup table, ``MatchingFiles`` ...) on a path written into the graph
that is not inside the model (an asset) works on the training host and fails in production.
:func:`files_outside` finds those, on every function of the graph (signatures and initialisers).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from tensorflow.core.framework import attr_value_pb2, graph_pb2, node_def_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from serving.servable import read_serving_meta_graph, signature_defs_of

# Ops that open a file, and which of their inputs is the path (TensorFlow's op definitions).
FILE_OPS = {
    "ReadFile": 0,
    "WriteFile": 0,
    "MatchingFiles": 0,
    "InitializeTableFromTextFile": 1,
    "InitializeTableFromTextFileV2": 1,
    "TFRecordDataset": 0,
    "TFRecordDatasetV2": 0,
    "TextLineDataset": 0,
    "FixedLengthRecordDataset": 0,
    "FixedLengthRecordDatasetV2": 0,
    "ImmutableConst": None,  # its path is an attribute, memory_region_name
}

PYTHON_OPS = {
    "EagerPyFunc": "tf.py_function",
    "PyFunc": "tf.numpy_function",
    "PyFuncStateless": "tf.numpy_function",
}


# Ops that write files. A served model writes nothing: a write on a path computed at run time cannot be
# checked for where it lands, so infra validation refuses any write a signature reaches.
WRITE_OPS = frozenset({
    "WriteFile", "Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints", "CreateSummaryFileWriter",
    "WriteSummary", "WriteScalarSummary", "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary",
    "WriteRawProtoSummary", "WriteGraphSummary", "DatasetToTFRecord", "SaveDataset", "SaveDatasetV2",
})  # fmt: skip


def _signature_ops(meta_graph: meta_graph_pb2.MetaGraphDef) -> Iterator[tuple[str, set[str]]]:
    """(signature name, every op type its outputs reach), for each serving signature, by name."""
    graph = meta_graph.graph_def
    by_name = {node.name: node for node in graph.node}
    for signature_name, signature in sorted(signature_defs_of(meta_graph).items()):
        outputs = [by_name.get(info.name.split(":")[0]) for info in signature.outputs.values()]
        yield signature_name, _reach(graph, [node for node in outputs if node is not None])[0]


def file_writes(meta_graph: meta_graph_pb2.MetaGraphDef) -> list[UnservableOp]:
    """The ops that write files which a serving signature reaches, by signature (empty: none)."""
    why = (
        "writes files while serving: TF Serving gives a model its own folder to read, and a path computed at "
        "run time could land anywhere; remove the write from the serving function"
    )
    found = []
    for signature_name, ops in _signature_ops(meta_graph):
        found += [UnservableOp(op, signature_name, why) for op in sorted(ops & WRITE_OPS)]
    return found


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


def _reach(graph: graph_pb2.GraphDef, nodes: list) -> tuple[set[str], set[str]]:  # type: ignore[type-arg]
    """(every op type, every library function) that ``nodes`` reach, transitively through function calls."""
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
    return ops, seen


def unservable_ops(model: str | meta_graph_pb2.MetaGraphDef) -> list[UnservableOp]:
    """Ops of a SavedModel's serving signatures that TF Serving cannot run (empty: none found).

    ``model`` is the SavedModel's folder, or its serving meta graph when the caller has read it.
    Python-function ops are always refused; an op unknown to this process's TensorFlow (a custom op)
    is refused too, since TF Serving links only TensorFlow's own ops.
    """
    from tensorflow.python.framework import op_def_registry

    meta_graph = read_serving_meta_graph(model) if isinstance(model, str) else model
    functions = {f.signature.name for f in meta_graph.graph_def.library.function}
    found = []
    for signature_name, ops in _signature_ops(meta_graph):
        for op in sorted(ops):
            if op in PYTHON_OPS:
                why = f"a {PYTHON_OPS[op]} (Python), which TF Serving has no kernel for: rewrite it with TensorFlow ops"
            elif op_def_registry.get(op) is None and op not in functions:
                why = "not a TensorFlow op (a custom-op library?): TF Serving would not load the model"
            else:
                continue
            found.append(UnservableOp(op, signature_name, why))
    return found


@dataclasses.dataclass(frozen=True)
class OutsideFile:
    """A file the graph opens that production TF Serving, which has only the model's folder, would not have."""

    op: str
    path: str
    where: str  # "signature X" or "function F" (an initialiser, a function no signature reaches)
    why: str

    def __str__(self) -> str:
        return f"{self.where} opens {self.path!r} with op {self.op}: {self.why}"


def _path_of(node: node_def_pb2.NodeDef, inputs: dict[str, node_def_pb2.NodeDef]) -> str | None:
    """The path a file op opens when the graph holds it as a constant (None: given at run time)."""
    index = FILE_OPS[node.op]
    if index is None:
        return node.attr["memory_region_name"].s.decode(errors="replace")
    if index >= len(node.input):
        return None
    source = inputs.get(node.input[index].lstrip("^").split(":")[0])
    if source is None or source.op != "Const":
        return None  # a function argument (an asset's path, captured) or a path computed when it runs
    values = source.attr["value"].tensor.string_val
    return values[0].decode(errors="replace") if len(values) == 1 else None


def files_outside(model_dir: str, meta_graph: meta_graph_pb2.MetaGraphDef | None = None) -> list[OutsideFile]:
    """Files the SavedModel in ``model_dir`` opens by a path written in its graph, outside its own folder.

    Every path written into the graph is refused: an absolute one names a file of this host (the
    training host's ``/tmp/vocab.txt``, the export folder, even the model's own folder where it is
    now, which is not where it will be served from), a relative one the server's working directory.
    Paths the graph receives as arguments (assets, which TF Serving points at the model's
    ``assets/`` folder) are inside the model by construction.
    """
    import os

    meta_graph = meta_graph if meta_graph is not None else read_serving_meta_graph(model_dir)
    graph = meta_graph.graph_def
    root = os.path.realpath(model_dir)
    reached: dict[str, str] = {}  # function -> the first signature that reaches it
    library = {f.signature.name: f for f in graph.library.function}
    by_name = {node.name: node for node in graph.node}
    for signature_name, signature in sorted(signature_defs_of(meta_graph).items()):
        outputs = [by_name.get(info.name.split(":")[0]) for info in signature.outputs.values()]
        for function in _reach(graph, [n for n in outputs if n is not None])[1]:
            reached.setdefault(function, f"signature {signature_name}")
    scopes = [("the model's graph", list(graph.node))]
    scopes += [(reached.get(name, f"function {name}"), list(f.node_def)) for name, f in sorted(library.items())]
    found = []
    for where, nodes in scopes:
        inputs = {node.name: node for node in nodes}
        for node in nodes:
            if node.op not in FILE_OPS:
                continue
            path = _path_of(node, inputs)
            if path is None:
                continue
            inside = os.path.isabs(path) and os.path.realpath(path).startswith(root + os.sep)
            why = (
                "an absolute path inside the folder the model is in now, which is not where TF Serving will "
                "find it: ship the file as an asset of the model (tf.saved_model.Asset), which TF Serving "
                "points at its own copy"
                if inside
                else "a path outside the model's folder; production TF Serving has only that folder: ship the file "
                "as an asset of the model (tf.saved_model.Asset, or a Transform vocabulary)"
                if os.path.isabs(path)
                else "a relative path, which TF Serving resolves in its own working directory: ship the file "
                "as an asset of the model"
            )
            found.append(OutsideFile(node.op, path, where, why))
    return found
