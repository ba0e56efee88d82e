"""The tfx-keras command line: help, listing, configs and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main


def test_help_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    for command in ("list", "config", "info", "run", "data", "serve", "predict", "serving-config"):
        assert command in result.stdout


def test_list_and_config(capsys: pytest.CaptureFixture) -> None:
    assert main(["list"]) == 0
    assert "mnist" in capsys.readouterr().out
    assert main(["config", "mnist"]) == 0
    assert "training.epochs = 15" in capsys.readouterr().out


def test_bad_override_is_a_clear_error(capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "mnist", "--set", "training.batch_size=0"]) == 2
    assert "training.batch_size=0 is invalid: must be an integer >= 1" in capsys.readouterr().err


def test_missing_data_set_offline_names_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["run", "mnist", "--data-dir", str(tmp_path / "empty"), "--output-dir", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "not prepared in" in err and "tfx-keras data import mnist" in err and "--download" in err
    assert not (tmp_path / "out" / "serving").exists()


def test_data_fixture_then_import(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "fixture", "mnist", "--out", str(tmp_path / "raw")]) == 0
    assert (
        main(["data", "import", "mnist", "--source", str(tmp_path / "raw"), "--data-dir", str(tmp_path / "tfds")]) == 0
    )
    assert "train    200 examples" in capsys.readouterr().out


def test_import_of_a_bad_source_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "raw").mkdir()
    assert main(["data", "import", "mnist", "--source", str(tmp_path / "raw"), "--data-dir", str(tmp_path)]) == 2
    assert "lacks train-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_serving_commands_name_the_fix_when_nothing_is_there(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["predict", "ticket", "--title", "x", "--server", f"127.0.0.1:{port}", "--timeout", "2"]) == 2
    assert "UNAVAILABLE" in (err := capsys.readouterr().err) and "tfx-keras serve" in err
    assert main(["predict", "mnist", "--server", f"127.0.0.1:{port}"]) == 2
    assert "give image files" in capsys.readouterr().err
    assert main(["serve", "--model-base-path", str(tmp_path / "nothing")]) == 2
    assert "push a model first" in capsys.readouterr().err
    assert main(["serving-config", "--serving-root", str(tmp_path)]) == 2
    assert "run a pipeline first" in capsys.readouterr().err
