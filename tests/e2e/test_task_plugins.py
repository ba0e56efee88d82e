"""A task in the user's own package, outside this repository: run to a pushed model, served, compiled.

The package is written into a temporary folder as docs/adding-a-task.md shows it (``mypkg/birds/``:
a tabular declaration of TFX's penguin columns and a curated schema), and run from that folder by
module path (``tfx-keras run mypkg.birds``), then installed (``pip install --target``) with a
``tfx_keras.tasks`` entry point and run by its name from elsewhere. The repository's files stay as
they were.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.data import penguin_rows, write_penguin_span

from pipelines import tasks
from pipelines.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("tabular")]  # see pytest.ini
ROOT = Path(__file__).resolve().parents[2]

DECLARATION = """
import os

from pipelines.config import ClassifierEval, FileData, TrainingConfig
from pipelines.tabular import Label, Numeric, TabularConfig, tabular_task

HERE = os.path.dirname(__file__)


class BirdsConfig(TabularConfig):
    data: FileData = FileData(format="csv")
    training: TrainingConfig = TrainingConfig(epochs=40, batch_size=16, optimizer="adam", learning_rate=0.01)
    eval: ClassifierEval = ClassifierEval(min_accuracy=0.9)


SPEC = tabular_task(
    name="birds",
    description="penguin species, a task of the user's own package",
    config_class=BirdsConfig,
    columns=[Numeric(n) for n in ("culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g")],
    label=Label("species", class_names=("Adelie", "Chinstrap", "Gentoo")),
    schema_file=os.path.join(HERE, "schema.pbtxt"),
)
"""
PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "mypkg"
version = "0.1"

[tool.setuptools.packages.find]
include = ["mypkg*"]

[tool.setuptools.package-data]
"*" = ["*.pbtxt"]

[project.entry-points."tfx_keras.tasks"]
birds = "mypkg.birds"
"""


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout


@pytest.fixture()
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """The import path, PYTHONPATH and imported modules as they were, after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    yield
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        del sys.modules[name]


def test_a_task_of_your_own_package_runs_is_served_and_compiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, isolated: None
) -> None:
    from helpers.dev_server import serving

    before = _git_status()
    repo = tmp_path / "my-repo"
    (repo / "mypkg" / "birds").mkdir(parents=True)
    (repo / "mypkg" / "__init__.py").write_text("")
    (repo / "mypkg" / "birds" / "__init__.py").write_text(DECLARATION)
    shutil.copy(ROOT / "pipelines" / "penguin" / "schema.pbtxt", repo / "mypkg" / "birds" / "schema.pbtxt")
    data = tmp_path / "data"
    write_penguin_span(data, 1, "csv", penguin_rows())
    out = tmp_path / "out"
    monkeypatch.chdir(repo)

    assert main(["run", "mypkg.nosuch", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error: unknown task 'mypkg.nosuch': no module 'mypkg.nosuch' on the path or in" in err, err

    quick = ["--set", "training.epochs=10"]
    assert main(["run", "mypkg.birds", "--input-base", str(data), "--output-dir", str(out), *quick]) == 0
    printed = capsys.readouterr().out
    assert "pushed to: " in printed, printed
    pushed = sorted((out / "serving" / "birds").iterdir())
    assert len(pushed) == 1 and (pushed[0] / "saved_model.pb").is_file()  # named after SPEC.name

    with serving(out / "serving") as server:  # served and asked by the model's name, as any task
        assert main(["predict", "birds", "culmen_length_mm=0.3", "culmen_depth_mm=0.6", "flipper_length_mm=0.2",
                     "body_mass_g=0.2", "--server", server.target]) == 0  # fmt: skip
    answer = capsys.readouterr().out
    assert any(name in answer for name in ("Adelie", "Chinstrap", "Gentoo")), answer

    kfp = tmp_path / "kfp"
    assert main(["compile", "mypkg.birds", "--cloud-config", str(ROOT / "cloud.example.json"), "--out", str(kfp)]) == 0
    compiled = (kfp / "birds_pipeline.json").read_text()
    assert "mypkg.birds" in compiled  # Transform and the Trainer find the task by its module in the image
    assert "/opt/tfx-keras/mypkg/birds/schema.pbtxt" in compiled  # where the image holds the copied package

    # Installed with an entry point, the task is found by its name from any folder.
    (repo / "pyproject.toml").write_text(PYPROJECT)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(repo)],
        check=True, capture_output=True,
    )  # fmt: skip
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        del sys.modules[name]
    sys.path.remove(str(repo))  # the folder the first run added: only the installed copy is left
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.chdir(tmp_path)
    assert "birds" in tasks.names()
    assert tasks.get("birds").schema_file.startswith(str(site))
    assert main(["list"]) == 0
    assert "penguin species, a task of the user's own package" in capsys.readouterr().out
    assert main(["run", "birds", "--input-base", str(data), "--output-dir", str(tmp_path / "out2"), *quick]) == 0
    assert "pushed to: " in capsys.readouterr().out  # Transform and the Trainer found the installed module
    assert _git_status() == before
