"""TFX artifacts as a resolver or an executor receives them, with an id and integer custom properties."""

from __future__ import annotations


def artifact(kind: type, artifact_id: int, **props: int) -> object:
    """An artifact of type ``kind`` with ``artifact_id`` and the given integer custom properties."""
    made = kind()
    made.id = artifact_id
    for key, value in props.items():
        made.set_int_custom_property(key, value)
    return made
