"""Finding a task: shipped by name, any module with a SPEC by its path, and what a wrong name is told."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pipelines import tasks
from pipelines.cli import main


@pytest.fixture()
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty package ``userpkg`` in a temporary folder, the current folder (not on the path)."""
    (tmp_path / "userpkg").mkdir()
    (tmp_path / "userpkg" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", "")
    yield tmp_path / "userpkg"
    for name in [m for m in sys.modules if m.split(".")[0] == "userpkg"]:
        del sys.modules[name]


def test_a_shipped_task_by_name_and_by_module_path_is_the_same_spec() -> None:
    spec = tasks.get("penguin")
    assert tasks.get("pipelines.penguin") is spec
    assert tasks.reference(spec) == "pipelines.penguin"


def test_a_module_of_the_current_folder_is_found_and_recorded_by_its_path(package: Path) -> None:
    (package / "birds.py").write_text("from pipelines.penguin import SPEC as _S\nimport dataclasses\n"
                                      "SPEC = dataclasses.replace(_S, name='birds')\n")  # fmt: skip
    spec = tasks.get("userpkg.birds")
    assert spec.name == "birds" and tasks.reference(spec) == "userpkg.birds"
    assert str(package.parent) in sys.path  # and for the processes a run starts:
    assert str(package.parent) in __import__("os").environ["PYTHONPATH"]
    assert tasks.path_in_package(spec, str(package / "birds" / "schema.pbtxt")) == ["userpkg", "birds", "schema.pbtxt"]
    with pytest.raises(tasks.UnknownTaskError, match="is outside its package"):
        tasks.path_in_package(spec, spec.schema_file)  # penguin's schema: not in userpkg


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("module", "text", "message"),
    [
        ("nospec", "X = 1\n", "module userpkg.nospec has no SPEC: a task module defines SPEC = tabular_task(...)"),
        (
            "taken",
            "from pipelines.penguin import SPEC\n",
            "userpkg.taken.SPEC is named 'penguin', the name of a shipped task (pipelines.penguin): give your task "
            "another name",
        ),
        (None, "", "unknown task 'userpkg.missing': no module 'userpkg.missing' on the path or in"),
    ],
)
def test_a_wrong_task_module_is_one_line_naming_the_fix(
    package: Path, module: str | None, text: str, message: str, capsys: pytest.CaptureFixture
) -> None:
    if module:
        (package / f"{module}.py").write_text(text)
    assert main(["config", f"userpkg.{module or 'missing'}"]) == 2
    err = capsys.readouterr().err
    assert f"error: {message}" in err and "Traceback" not in err, err


@pytest.mark.reliability
def test_an_unknown_name_lists_the_tasks_and_says_how_to_add_one(capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "pengiun"]) == 2
    err = capsys.readouterr().err
    assert "error: unknown task 'pengiun'; known: cifar10, fashion_mnist, mnist, penguin, ticket." in err
    assert "named by its path (mypkg.churn) or installed with a 'tfx_keras.tasks' entry point" in err
