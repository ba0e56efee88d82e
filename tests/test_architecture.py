"""The shape of the code: layers point one way, and only a task's folder (and the registry) names it.

Imports are read from the source (every ``import``, also inside functions), so a lazy import that
breaks a rule is caught too. Run alone with ``.venv/bin/python -m pytest tests/test_architecture.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pipelines import tasks

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "models", "data_import", "components", "pipelines", "serving")
TASK_FOLDERS = {Path("pipelines") / name for name in sorted(tasks.TASKS)}


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (absolute imports; the project uses no relative ones)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names.add(node.module.split(".")[0])
    return names


def _package_imports(package: str) -> dict[Path, set[str]]:
    return {path.relative_to(ROOT): _imports(path) for path in _sources(package)}


def _in_task_folder(path: Path) -> bool:
    return any(folder in path.parents for folder in TASK_FOLDERS)


# What each layer may import of the project (the rest of the project is off limits).
ALLOWED = {
    "common": set(),
    "models": set(),
    "data_import": set(),
    "components": {"common"},
    "serving": {"common"},
    "pipelines": {"common", "models", "data_import", "components", "serving"},
}
# Libraries the server and clients must not need: they run where TFX and TFT are not installed.
SERVING_FORBIDDEN_LIBRARIES = {"tfx", "tensorflow_transform", "tf_keras", "tensorflow_model_analysis", "apache_beam"}


@pytest.mark.parametrize("package", PACKAGES)
def test_layers_point_one_way(package: str) -> None:
    wrong = {
        str(path): sorted((names & set(PACKAGES)) - ALLOWED[package] - {package})
        for path, names in _package_imports(package).items()
    }
    assert not {path: names for path, names in wrong.items() if names}


def test_there_is_no_import_cycle_between_top_level_packages() -> None:
    graph = {p: set().union(*_package_imports(p).values()) & set(PACKAGES) - {p} for p in PACKAGES}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph[start])

    assert [p for p in PACKAGES if reaches(p, p, set())] == [], graph


def test_common_uses_the_standard_library_and_pydantic_only() -> None:
    import sys

    for path, names in _package_imports("common").items():
        assert names <= set(sys.stdlib_module_names) | {"__future__", "pydantic"}, (path, names)


def test_the_server_and_clients_need_neither_tfx_nor_tft() -> None:
    for path, names in _package_imports("serving").items():
        assert not names & SERVING_FORBIDDEN_LIBRARIES, (path, names & SERVING_FORBIDDEN_LIBRARIES)


def _code_words(path: Path) -> list[str]:
    """Identifiers and string constants of a module (its code), leaving out docstrings and comments."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    words = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.append(node.value)
        elif isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            words.append(node.name)
        elif isinstance(node, ast.arg):
            words.append(node.arg)
        elif isinstance(node, ast.alias):
            words.append(node.asname or node.name)
    return words


def test_only_task_folders_and_the_registry_name_a_task() -> None:
    # A task's name as a word in code or strings ("mnist", "ticket", ... in any case), outside docstrings
    # and comments; "fashion_mnist" does not count as "mnist".
    boundary = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"
    patterns = {name: re.compile(rf"{boundary[0]}{re.escape(name)}{boundary[1]}", re.I) for name in sorted(tasks.TASKS)}
    offenders = []
    for package in PACKAGES:
        for path in _sources(package):
            relative = path.relative_to(ROOT)
            if _in_task_folder(relative) or relative == Path("pipelines/tasks.py"):
                continue
            names = {name for word in _code_words(path) for name, p in patterns.items() if p.search(word)}
            if "fashion_mnist" in names:
                names.discard("mnist")
            offenders += [f"{relative}: {name}" for name in sorted(names)]
    assert offenders == []


def test_no_test_code_in_the_installed_packages() -> None:
    for package in PACKAGES:
        for path in _sources(package):
            assert "pytest" not in _imports(path), path
            assert not path.name.startswith(("test_", "toy_")), path


def _module_imports(path: Path) -> set[str]:
    """Dotted names of the project modules ``path`` imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("package", PACKAGES)
def test_there_is_no_import_cycle_between_modules_of_a_package(package: str) -> None:
    """Also lazy imports inside functions: a cycle hidden behind one is still a cycle."""
    modules = {_module_name(path): path for path in _sources(package)}
    graph = {
        name: {m for m in _module_imports(path) if m in modules and m != name and not name.startswith(m + ".")}
        for name, path in modules.items()
    }
    cycles = []

    def visit(name: str, trail: list[str]) -> None:
        for target in sorted(graph[name]):
            if target in trail:
                cycles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif len(trail) < 12:
                visit(target, [*trail, target])

    for start in sorted(graph):
        visit(start, [start])
    assert not cycles, sorted(set(cycles))[:10]


MAX_LINES = 300


def test_a_source_file_over_300_lines_says_why_in_its_docstring() -> None:
    """A long file usually does several jobs; one that does not says so ("Long because ...") where a reader starts."""
    unexplained = []
    for folder in (*PACKAGES, "benchmarks", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if text.count("\n") <= MAX_LINES:
                continue
            docstring = ast.get_docstring(ast.parse(text)) or ""
            if not any(line.startswith("Long because ") for line in docstring.splitlines()):
                unexplained.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert unexplained == [], "split these files, or say in their docstring why not: " + ", ".join(unexplained)
