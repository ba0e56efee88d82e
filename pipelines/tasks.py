"""Where a task is found: the shipped tasks, tasks installed by other packages, and a task by module path.

A task is a module whose ``SPEC`` is a :class:`pipelines.spec.TaskSpec`. Three ways name one:

- a **shipped** task by its name (``mnist``): the registry below, one line per task folder;
- an **installed** task by its name: a package that declares an entry point in the group
  :data:`ENTRY_POINT_GROUP` (``churn = "mypkg.churn"`` under ``[project.entry-points."tfx_keras.tasks"]``);
- **any** task by its module path (``mypkg.churn``), importable from the current folder or the path.

The pipeline records the task's module path (:func:`reference`), and Transform and the Trainer find
the task by it (:func:`get`) in their own process, so a task outside this repository runs as a
shipped one does. Modules are imported on first use, so listing the names costs nothing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys

from pipelines.spec import TaskSpec

TASKS: dict[str, str] = {
    "mnist": "pipelines.mnist",
    "fashion_mnist": "pipelines.fashion_mnist",
    "cifar10": "pipelines.cifar10",
    "ticket": "pipelines.ticket",
    "penguin": "pipelines.penguin",
}
ENTRY_POINT_GROUP = "tfx_keras.tasks"


class UnknownTaskError(KeyError):
    """No task of that name or module path; the message lists the known ones and says how to add one."""

    def __str__(self) -> str:
        return str(self.args[0])


def installed() -> dict[str, str]:
    """Task name -> module path, for each task another installed package declares (shipped names win)."""
    found: dict[str, str] = {}
    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in TASKS:
            found.setdefault(point.name, point.module)
    return found


def names() -> list[str]:
    """Every shipped and installed task name, sorted (a task by module path is not listed)."""
    return sorted({*TASKS, *installed()})


def _import(module: str, ref: str) -> object:
    """Import ``module``, also from the current folder (as ``python -m`` would); a missing one is named."""
    here = os.getcwd()
    if here not in sys.path:
        sys.path.append(here)  # last: the current folder never shadows an installed package
        # Processes this one starts (Beam workers, a Trainer's workers) find the task the same way.
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), here) if p)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and (module == err.name or module.startswith(f"{err.name}.")):
            raise UnknownTaskError(
                f"unknown task {ref!r}: no module {err.name!r} on the path or in {here}. Known tasks: "
                f"{', '.join(names())}; a task of your own is a module with a SPEC, named by its path "
                "(mypkg.churn) or installed with a 'tfx_keras.tasks' entry point (docs/adding-a-task.md)"
            ) from None
        raise


def get(ref: str) -> TaskSpec:
    """The spec of a task: a shipped or installed task's name, or the path of a module with a ``SPEC``.

    Raises:
        UnknownTaskError: no such task, the module has no ``SPEC``, or a module's task takes a shipped
            task's name.
    """
    named = TASKS.get(ref) or installed().get(ref)
    if named is None and "." not in ref:
        raise UnknownTaskError(
            f"unknown task {ref!r}; known: {', '.join(names())}. A task of your own is a module with a SPEC, "
            "named by its path (mypkg.churn) or installed with a 'tfx_keras.tasks' entry point "
            "(docs/adding-a-task.md)"
        )
    module = named or ref
    spec = getattr(_import(module, ref), "SPEC", None)
    if not isinstance(spec, TaskSpec):
        raise UnknownTaskError(
            f"module {module} has no SPEC: a task module defines SPEC = tabular_task(...) or another "
            "TaskSpec (docs/adding-a-task.md)"
        )
    if named and spec.name != ref:
        raise UnknownTaskError(f"{module}.SPEC is named {spec.name!r}, registered as {ref!r}")
    if not named and TASKS.get(spec.name, module) != module:
        raise UnknownTaskError(
            f"{module}.SPEC is named {spec.name!r}, the name of a shipped task ({TASKS[spec.name]}): "
            "give your task another name (it names the pipeline, its output folder and the served model)"
        )
    _MODULES[spec.name] = module
    return spec


_MODULES: dict[str, str] = {}  # task name -> the module its SPEC was read from, by get()


def reference(spec: TaskSpec) -> str:
    """The module path of ``spec``'s task, as the pipeline records it for Transform and the Trainer."""
    return _MODULES.get(spec.name) or TASKS.get(spec.name) or installed().get(spec.name) or spec.name


def path_in_package(spec: TaskSpec, path: str) -> list[str]:
    """``path`` (a file of the task's folder) from the folder that holds the task's top-level package.

    An image holds that folder's packages under one root: this project's ``pipelines/`` and a task of
    your own copied beside it (docs/adding-a-task.md), so the path is the same there.

    Raises:
        UnknownTaskError: ``path`` is outside the task's package, where an image would not hold it.
    """
    package = importlib.import_module(reference(spec).split(".")[0])
    package_dir = os.path.dirname(package.__file__) if package.__file__ else list(package.__path__)[0]
    relative = os.path.relpath(os.path.abspath(path), os.path.dirname(os.path.abspath(package_dir)))
    if relative.startswith(os.pardir):
        raise UnknownTaskError(
            f"{spec.name}'s file {path} is outside its package {package_dir}: keep the curated schema in "
            "the task's folder, so that the image that holds the package holds it too"
        )
    return relative.split(os.sep)
