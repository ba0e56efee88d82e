"""TF Serving's folder layout: ``<serving_root>/<model>/<version>/``, versions are positive integers.

One listing of version folders for the Pusher, the model store and the TF Serving config writer. A
folder whose name is not a number is not a version: the Pusher stages a copy under
``.staging-<version>-<id>`` and renames it into place, so TF Serving never sees half a model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

STAGING_PREFIX = ".staging-"


def version_numbers(names: Iterable[str]) -> list[int]:
    """The version numbers among folder names (``"3"`` -> 3; staging and other names are skipped), sorted."""
    return sorted(int(name.rstrip("/")) for name in names if name.rstrip("/").isdigit())


def version_dirs(
    base_path: str,
    listdir: Callable[[str], list[str]] = os.listdir,
    isdir: Callable[[str], bool] = os.path.isdir,
) -> dict[int, str]:
    """Version number -> folder, for every version folder under ``base_path`` (empty if it does not exist).

    ``listdir``/``isdir`` default to the local file system; the Pusher passes ``tf.io.gfile``'s for ``gs://``.
    """
    if not isdir(base_path):
        return {}
    names = listdir(base_path)
    found = {}
    for version in version_numbers(names):
        path = os.path.join(base_path, str(version))
        if isdir(path):
            found[version] = path
    return found


def model_folders(serving_root: str) -> dict[str, str]:
    """Model name -> folder, for every model folder under a serving root (hidden names skipped)."""
    if not os.path.isdir(serving_root):
        return {}
    return {
        name: os.path.join(serving_root, name)
        for name in sorted(os.listdir(serving_root))
        if not name.startswith(".") and os.path.isdir(os.path.join(serving_root, name))
    }
