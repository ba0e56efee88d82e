"""What can be checked here of the files that set the project up (Docker cannot run here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dockerfile_installs_like_setup_and_chooses_keras_2() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM tensorflow/tfx:1\.16\.0$", dockerfile, re.M)
    assert "ENV TF_USE_LEGACY_KERAS=1" in dockerfile
    assert "-c constraints.txt" in dockerfile and "-c constraints.txt" in (ROOT / "scripts/setup.sh").read_text()
    # Every top-level package setup.py installs is copied into the image (what find_packages includes).
    included = (ROOT / "setup.py").read_text().split("include=[", 1)[1].split("]", 1)[0]
    installed = re.findall(r'"(\w+)"', included)  # the packages, not their "pkg.*" sub-packages
    assert set(installed) == {"common", "components", "data_import", "models", "pipelines", "serving"}, installed
    for package in installed:
        assert f"COPY {package}/ {package}/" in dockerfile, package


def test_constraints_pin_the_known_good_stack() -> None:
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["tfx"] == "1.16.0" and pins["tensorflow"] == "2.16.2" and pins["apache-beam"] == "2.59.0"
    assert pins["tf_keras"].startswith("2.16") and pins["protobuf"] == "3.20.3" and "dill" in pins


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/test.sh" in readme.split("\n## ", 1)[0]  # in the opening section
    assert "./scripts/run_mnist.sh" in readme.split("\n## ", 1)[0]
    assert "./scripts/test.sh" in (ROOT / ".ci/run").read_text()
