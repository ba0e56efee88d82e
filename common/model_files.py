"""What a model folder may hold before it is copied or served: plain files and folders, links inside it.

A SavedModel is files. A link out of the folder (``assets/zero -> /dev/zero``) or a pipe, device or
socket in it makes a copy read without end or read the host's files; TF Serving on another host
would not find them either. :func:`unsafe_entries` names them, before anything reads the folder.
"""

from __future__ import annotations

import os
import stat


def unsafe_entries(model_dir: str, limit: int = 5) -> list[str]:
    """Up to ``limit`` entries of ``model_dir`` that are not its own regular files and folders, each explained.

    A link is allowed when it points to a regular file or folder inside ``model_dir``; a remote folder
    (``gs://``) has neither links nor special files and is not walked.
    """
    if "://" in model_dir:
        return []
    root = os.path.realpath(model_dir)
    found: list[str] = []
    for folder, subfolders, names in os.walk(model_dir, followlinks=False):
        for name in [*subfolders, *names]:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, model_dir)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                target = os.path.realpath(path)
                inside = target == root or target.startswith(root + os.sep)
                if not inside:
                    found.append(f"{relative} is a link out of the model folder (to {os.readlink(path)})")
                elif not (os.path.isfile(target) or os.path.isdir(target)):
                    found.append(f"{relative} is a link to something that is not a file")
            elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                kind = "a pipe" if stat.S_ISFIFO(mode) else "a device or socket"
                found.append(f"{relative} is {kind}, not a file")
            if len(found) >= limit:
                return found
    return found
