"""TF Serving's folder layout: ``<serving_root>/<model>/<version>/``, versions are positive integers.

One listing of version folders for the Pusher, the model store and the TF Serving config writer. A
folder whose name is not a number is not a version: the Pusher stages a copy under
``.staging-<version>-<id>`` and renames it into place, so TF Serving never sees half a model.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable

STAGING_PREFIX = ".staging-"
MAX_VERSION = 2**63 - 1  # TF Serving's versions are int64
_ASCII_DIGITS = re.compile(r"[0-9]+")
_warned: set[str] = set()
log = logging.getLogger(__name__)


def version_number(name: str) -> int | None:
    """The version a folder name stands for (``"3"`` -> 3), or None when it is not a version.

    Only ASCII digits make a version (``"²"`` is a digit to ``str.isdigit`` but no version), and only
    up to int64's largest, as TF Serving's. A name that looks like a version but is not one is
    warned about once.
    """
    name = name.rstrip("/")
    if _ASCII_DIGITS.fullmatch(name):
        if int(name) <= MAX_VERSION:
            return int(name)
        reason = f"larger than {MAX_VERSION}, the largest version TF Serving takes"
    elif name.isdigit() or name.isnumeric():
        reason = "a version is a number in ASCII digits 0-9"
    else:
        return None
    if name not in _warned:
        _warned.add(name)
        log.warning("folder %r is not a model version and is ignored: %s", name, reason)
    return None


def version_numbers(names: Iterable[str]) -> list[int]:
    """The version numbers among folder names (``"3"`` -> 3; staging and other names are skipped), sorted."""
    return sorted(v for v in map(version_number, names) if v is not None)


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
    found = {}
    for name in listdir(base_path):
        version = version_number(name)
        path = os.path.join(base_path, name.rstrip("/"))
        if version is not None and isdir(path):
            found[version] = path
    return dict(sorted(found.items()))


# Where `tfx-keras serving rollback` keeps the versions it took out of serving: <serving root>/.rolled_back/<model>/
# (hidden: no server takes it for a model).
ROLLED_BACK_DIR = ".rolled_back"
MONITOR_DIR = "monitor"  # under the output folder: what `tfx-keras monitor` writes, per model and version


def model_folders(serving_root: str) -> dict[str, str]:
    """Model name -> folder, for every model folder under a serving root (hidden names skipped)."""
    if not os.path.isdir(serving_root):
        return {}
    return {
        name: os.path.join(serving_root, name)
        for name in sorted(os.listdir(serving_root))
        if not name.startswith(".") and os.path.isdir(os.path.join(serving_root, name))
    }
