"""The tabular column kinds beyond a number and a category: buckets, crosses, timestamps, derived columns.

Each is declared in a task's ``columns`` beside :class:`~pipelines.tabular.Numeric` and
:class:`~pipelines.tabular.Categorical`, and computed in Transform (``pipelines/tabular_transform.py``),
so it is part of the graph that serves: a client sends the raw columns it reads, never the result.

* :class:`Bucketized`: a number one-hot over ``buckets`` quantile buckets of the training split
  (``tft.bucketize``, a full pass), as TFX's taxi template buckets coordinates;
* :class:`Crossed`: two (or more) columns crossed and hashed into ``hash_buckets`` one-hot buckets; a
  part that is a declared :class:`Bucketized` column is crossed by its bucket, a category by its
  value, any other raw column by its value as text;
* :class:`Timestamp`: seconds since 1970-01-01 UTC (an INT column) as its hour, weekday and month, one-hot;
* :class:`Derived`: a column computed from other raw columns by the task's own TensorFlow function,
  then encoded as the :class:`~pipelines.tabular.Numeric` or :class:`~pipelines.tabular.Categorical`
  it declares.

A derived *label* is a :class:`~pipelines.tabular.Label` with ``derive`` and ``inputs``: computed in
Transform for training and evaluation, absent at serving (its inputs are training-only columns).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from pipelines.tabular_transform import TIMESTAMP_PARTS


@dataclasses.dataclass(frozen=True)
class Bucketized:
    """A numeric column one-hot over quantile buckets of the training split (``tft.bucketize``).

    Attributes:
        name: the column.
        buckets: how many buckets (fewer when the training split has fewer distinct values).
        optional: rows may lack a value; it falls in the bucket of the training mean and is flagged.
    """

    name: str
    buckets: int = 10
    optional: bool = False
    default: None = None  # (a kind with no default of its own)

    def __post_init__(self) -> None:
        if self.buckets < 2:
            raise ValueError(f"Bucketized({self.name!r}): buckets must be at least 2, got {self.buckets}")

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """The raw columns a client sends for it."""
        return (self.name,)

    def width(self) -> int:
        """Model input width: one column per bucket, and the missing flag of an optional column."""
        return self.buckets + int(self.optional)

    def encode(self, inputs: Mapping[str, Any], cache: dict[str, Any]) -> Any:
        """Transform: the bucket one-hot (and the missing flag)."""
        from pipelines.tabular_transform import encode_bucketized

        return encode_bucketized(self, inputs, cache)


@dataclasses.dataclass(frozen=True)
class Crossed:
    """Columns crossed: each combination of their values hashed into one of ``hash_buckets`` one-hot buckets.

    Attributes:
        parts: the columns crossed (a declared Bucketized column by its bucket, others by their value).
        hash_buckets: the one-hot width; combinations beyond it share buckets.
        name: the model input's name (default: the parts joined by ``_x_``).
    """

    parts: tuple[str, ...]
    hash_buckets: int = 100
    name: str = ""
    optional: bool = False  # (its parts say whether they may be missing)
    default: None = None

    def __post_init__(self) -> None:
        if len(self.parts) < 2:
            raise ValueError(f"Crossed{tuple(self.parts)}: cross at least two columns")
        if self.hash_buckets < 2:
            raise ValueError(f"Crossed{tuple(self.parts)}: hash_buckets must be at least 2")
        if not self.name:
            object.__setattr__(self, "name", "_x_".join(self.parts))

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """The raw columns a client sends for it: its parts."""
        return tuple(self.parts)

    def width(self) -> int:
        """Model input width: one column per hash bucket."""
        return self.hash_buckets

    def encode(self, inputs: Mapping[str, Any], cache: dict[str, Any]) -> Any:
        """Transform: the crossed value's hash bucket, one-hot."""
        from pipelines.tabular_transform import encode_crossed

        return encode_crossed(self, inputs, cache)


@dataclasses.dataclass(frozen=True)
class Timestamp:
    """Seconds since 1970-01-01 UTC (an INT column) as its hour, weekday (Monday first) and month, one-hot.

    Attributes:
        name: the column.
        parts: which of ``hour``, ``weekday``, ``month``.
        optional: rows may lack a value (all its parts zero, and flagged).
    """

    name: str
    parts: tuple[str, ...] = ("hour", "weekday", "month")
    optional: bool = False
    default: None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.parts) - set(TIMESTAMP_PARTS))
        if unknown or not self.parts:
            raise ValueError(f"Timestamp({self.name!r}): parts must be among {sorted(TIMESTAMP_PARTS)}, got {unknown}")

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """The raw columns a client sends for it."""
        return (self.name,)

    def width(self) -> int:
        """Model input width: the one-hot parts, and the missing flag of an optional column."""
        return sum(TIMESTAMP_PARTS[p] for p in self.parts) + int(self.optional)

    def encode(self, inputs: Mapping[str, Any], cache: dict[str, Any]) -> Any:  # noqa: ARG002 - one interface
        """Transform: hour, weekday and month one-hot (and the missing flag)."""
        from pipelines.tabular_transform import encode_timestamp

        return encode_timestamp(self, inputs[self.name])


@dataclasses.dataclass(frozen=True)
class Derived:
    """A column computed from other raw columns by TensorFlow ops, then encoded as the column it declares.

    Attributes:
        column: how the computed value is encoded and named: ``Numeric("fare_per_mile")`` or
            ``Categorical("airport_trip", vocabulary=(0, 1))``.
        fn: the computation, ``fn(**{input: [batch, 1] tensor}) -> [batch, 1] tensor`` (TensorFlow ops:
            it runs in Transform and in the serving graph). An optional input's missing value is given
            as its missing marker (NaN, the int64 minimum, or "").
        inputs: the raw columns ``fn`` reads (a client sends them).
    """

    column: Any
    fn: Callable[..., Any]
    inputs: tuple[str, ...]

    @property
    def name(self) -> str:
        """The model input's name: the declared column's."""
        return self.column.name

    @property
    def optional(self) -> bool:
        """Whether the computed value may be missing (as its column declares)."""
        return self.column.optional

    @property
    def default(self) -> Any:
        """The computed column's default."""
        return self.column.default

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """The raw columns a client sends for it: ``fn``'s inputs."""
        return tuple(self.inputs)

    def width(self) -> int:
        """Model input width: the declared column's."""
        return self.column.width()

    def encode(self, inputs: Mapping[str, Any], cache: dict[str, Any]) -> Any:
        """Transform: ``fn`` on the raw inputs, encoded as the declared column."""
        from pipelines.tabular_transform import derive

        return self.column.encode({self.column.name: derive(self.fn, self.inputs, inputs)}, cache)
