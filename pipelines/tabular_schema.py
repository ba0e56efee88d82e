"""A tabular declaration checked against its curated schema, before any component runs.

The declaration (``tabular_task(columns=..., label=...)``) and the schema (``schema.pbtxt``) both say
what a column is. Where they disagree, the pipeline fails late and far from the cause (a column
declared required but optional in the schema reaches the Trainer as a tensor one column too wide).
:func:`declaration_problems` lists each disagreement in one line with the fix; the pipeline refuses
to start on any (exit 2).
"""

from __future__ import annotations

from typing import Any

SERVING = "SERVING"


def _kind(feature: Any) -> str:
    from tensorflow_metadata.proto.v0 import schema_pb2

    return {schema_pb2.INT: "INT", schema_pb2.FLOAT: "FLOAT", schema_pb2.BYTES: "BYTES"}.get(feature.type, "?")


def _domain_values(schema: Any, feature: Any) -> list[str] | None:
    """The string values the schema allows for ``feature`` (its own or a named domain), or None."""
    if feature.HasField("string_domain"):
        return list(feature.string_domain.value)
    if feature.domain:
        for domain in schema.string_domain:
            if domain.name == feature.domain:
                return list(domain.value)
    return None


def declaration_problems(table: Any, schema_file: str) -> list[str]:
    """One line per disagreement between a tabular declaration (``pipelines.tabular.Table``) and ``schema_file``."""
    from tfx.utils import io_utils

    schema = io_utils.SchemaReader().read(schema_file)
    features = {f.name: f for f in schema.feature}
    problems = []
    for column in table.columns:
        if column.raw_columns != (column.name,):  # a cross or a derived column: its parts are raw columns
            for name in column.raw_columns:
                if name not in features:
                    problems.append(
                        f"column {column.name} reads {name}, which is not in the schema: add it, or fix the name"
                    )
            continue
        feature = features.get(column.name)
        if feature is None:
            problems.append(
                f"column {column.name} is declared but not in the schema: add it, or remove it from columns"
            )
            continue
        kind = _kind(feature)
        optional_in_schema = not (feature.HasField("presence") and feature.presence.min_fraction >= 1.0)
        if optional_in_schema and not column.optional:
            problems.append(
                f"column {column.name} is required in the declaration but optional in the schema "
                f"(presence.min_fraction {feature.presence.min_fraction:g}): declare it "
                f"{type(column).__name__}({column.name!r}, optional=True), or set presence {{ min_fraction: 1 }}"
            )
        kind_name = type(column).__name__
        if kind_name == "Timestamp" and kind != "INT":
            problems.append(
                f"column {column.name} is a Timestamp (seconds since 1970-01-01 UTC) but the schema says {kind}: "
                "give it as an integer column"
            )
            continue
        categorical = hasattr(column, "vocabulary")  # a Categorical column; a Numeric or Bucketized one has none
        if not categorical and kind == "BYTES":
            problems.append(
                f"column {column.name} is {kind_name} but the schema says BYTES (text): declare it "
                f"Categorical({column.name!r}), or fix its type in the schema"
            )
        if categorical and column.vocabulary:
            texts = all(isinstance(v, str) for v in column.vocabulary)
            if texts and kind != "BYTES":
                problems.append(
                    f"column {column.name} has a vocabulary of texts but the schema says {kind}: give its "
                    "values as integers, or fix its type in the schema"
                )
            if not texts and kind == "BYTES":
                problems.append(
                    f"column {column.name} has a vocabulary of integers but the schema says BYTES: give "
                    "its values as texts, or fix its type in the schema"
                )
            allowed = _domain_values(schema, feature)
            if texts and allowed is not None:
                unknown = [v for v in column.vocabulary if v not in allowed]
                if unknown:
                    problems.append(
                        f"column {column.name}: vocabulary values {unknown} are not in the schema's domain "
                        f"{allowed[:8]}: the DataValidator would refuse every row that has them"
                    )
    has_environments = bool(schema.default_environment)
    served = set(table.raw_columns())
    for target in table.targets().values():
        if target.derive is not None:  # computed in Transform: its inputs are in the files, not the label
            for name in target.inputs:
                feature = features.get(name)
                if feature is None:
                    problems.append(f"label {target.name} is derived from {name}, which is not in the schema: add it")
                elif name not in served and has_environments and SERVING not in feature.not_in_environment:
                    problems.append(
                        f"label {target.name} is derived from {name}, which no request carries: add "
                        f'not_in_environment: "{SERVING}" to {name} in the schema'
                    )
            continue
        feature = features.get(target.name)
        if feature is None:
            problems.append(f"label {target.name} is not in the schema: add it (absent in {SERVING})")
            continue
        if has_environments and SERVING not in feature.not_in_environment:
            problems.append(
                f"label {target.name} is not marked absent at serving: add not_in_environment: "
                f'"{SERVING}" to it in the schema (requests carry no label)'
            )
        if target.is_classification and _kind(feature) == "INT" and feature.HasField("int_domain"):
            domain = feature.int_domain
            if domain.HasField("max") and domain.max != len(target.class_names) - 1:
                problems.append(
                    f"label {target.name}: the schema allows class ids {domain.min}..{domain.max} but "
                    f"the declaration names {len(target.class_names)} classes {list(target.class_names)}: "
                    "make them agree"
                )
        if not target.is_classification and _kind(feature) == "BYTES":
            problems.append(
                f"label {target.name} is a regression target but the schema says BYTES: give "
                "Label(class_names=...) for a class label, or fix its type"
            )
    return problems
