"""Naming shared by every task."""

TRANSFORMED_SUFFIX = "_xf"


def transformed_name(key: str) -> str:
    """Name of the Transform output computed from raw feature ``key`` (e.g. ``image`` -> ``image_xf``)."""
    return f"{key}{TRANSFORMED_SUFFIX}"
