"""Validated settings, one mechanism (pydantic) for every layer: task configs, the server's options, the cloud.

A settings class is a frozen :class:`Settings`; :func:`validate` builds one from plain values and
turns pydantic's errors into one :class:`ConfigError` whose lines name the setting as the user
wrote it (``training.batch_size='0'``, or a flag: ``--max-batch-size 0``), the value and what is
allowed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, field_validator


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the setting and the fix."""


MAX_INT = 2**31 - 1  # no count, size or seed here needs more; a larger one fails later, deep in TensorFlow


class Settings(BaseModel):
    """Frozen settings: unknown fields, NaN, infinity and integers beyond 32 bits refused; defaults validated too."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, validate_default=True)

    @field_validator("*", mode="after")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise ValueError(f"must be at most {MAX_INT:,} in magnitude")
        return value


S = TypeVar("S", bound=BaseModel)


def describe_error(
    error: Mapping[str, Any],
    given: Mapping[str, Any],
    names: Mapping[str, str],
    settings_class: type[BaseModel] | None = None,
) -> str:
    """One line for one pydantic error: the setting as the user named it, its value, what is allowed."""
    loc = [str(part) for part in error["loc"]]
    field = ".".join(loc)
    message = str(error["msg"])
    message = re.sub(r"^(Input should be|Value should be)", "must be", message)
    message = re.sub(r"^(Value|Assertion) error, ", "", message)
    message = message.replace("greater than or equal to", ">=").replace("less than or equal to", "<=")
    message = message.replace("greater than", ">").replace("less than", "<")
    if error["type"] == "finite_number":
        message = "must be a finite number"
    if error["type"] in ("model_attributes_type", "dict_type") and not loc:
        return f"invalid configuration: {message}"
    if error["type"] == "extra_forbidden":
        known = sorted(_fields_at(settings_class, loc[:-1]))
        return f"unknown setting {names.get(field, field)!r}; known here: {', '.join(known)}."
    if error["type"].startswith("value_error") and (not loc or isinstance(error.get("input"), dict)):
        return f"{field or 'config'} is invalid: {message}."  # a check of a whole section
    shown = given.get(field, error.get("input"))
    if field in names:
        return f"{names[field]} {shown} is invalid: {message}."
    return f"{field}={shown!r} is invalid: {message}."


def validate(
    settings_class: type[S],
    values: Mapping[str, Any],
    given: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
) -> S:
    """Build ``settings_class`` from nested ``values``; any invalid value is a ConfigError naming it.

    Args:
        settings_class: the pydantic model to build.
        values: its fields' values (nested dicts for sections).
        given: the text the user typed for a dotted field, shown instead of the parsed value.
        names: how the user names a field (``{"max_batch_size": "--max-batch-size"}``).
    """
    try:
        return settings_class.model_validate(dict(values))
    except pydantic.ValidationError as err:
        lines = [describe_error(e, given or {}, names or {}, settings_class) for e in err.errors(include_url=False)]
        if len(lines) > 1:
            raise ConfigError("\n  ".join([f"{len(lines)} settings are invalid:", *lines])) from None
        raise ConfigError(lines[0]) from None


def _fields_at(settings_class: type[BaseModel] | None, path: list[str]) -> list[str]:
    """The field names of the section at ``path`` (nested settings), or [] if it is not one."""
    model: Any = settings_class
    for part in path:
        field = model.model_fields.get(part) if model else None
        model = field.annotation if field else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return list(model.model_fields) if model else []
