"""The production TF Serving configuration: model config file and compose file, checked without Docker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.model_store import read_model_config_file
from serving.tf_serving_config import build_model_config, model_versions, write_model_config

ROOT = Path(__file__).resolve().parents[1]


def _serving_root(tmp_path: Path) -> Path:
    for model, versions in {"mnist": [3, 12], "ticket": [5]}.items():
        for v in versions:
            (tmp_path / model / str(v)).mkdir(parents=True)
    (tmp_path / "mnist" / ".staging-13").mkdir()  # not a version
    (tmp_path / "empty").mkdir()  # not a model yet
    return tmp_path


def test_model_config_lists_every_pushed_model_with_container_paths(tmp_path: Path) -> None:
    root = _serving_root(tmp_path)
    assert model_versions(str(root)) == {"mnist": [3, 12], "ticket": [5]}
    path = write_model_config(str(root))
    assert path == str(root / "models.config")
    config = text_format.Parse(Path(path).read_text(), model_server_config_pb2.ModelServerConfig())
    entries = {m.name: m for m in config.model_config_list.config}
    assert set(entries) == {"mnist", "ticket"}
    for name, entry in entries.items():
        assert entry.base_path == f"/models/{name}" and entry.model_platform == "tensorflow"
        assert entry.model_version_policy.latest.num_versions == 1
    assert model_versions(str(root)) == {"mnist": [3, 12], "ticket": [5]}  # models.config is not a model


def test_the_same_config_format_drives_the_development_server(tmp_path: Path) -> None:
    root = _serving_root(tmp_path)
    config = build_model_config(["mnist"], base_path="models_here", labels={"mnist": {"stable": 3}})
    (root / "local.config").write_text(text_format.MessageToString(config))
    (source,) = read_model_config_file(str(root / "local.config"))
    assert source.name == "mnist" and source.base_path == str(root / "models_here" / "mnist")
    assert dict(source.labels) == {"stable": 3} and source.policy.num_latest == 1
    (root / "bad.config").write_text("model_config_list { config { nme: 'x' } }")
    with pytest.raises(ValueError, match="not a valid TF Serving model config"):
        read_model_config_file(str(root / "bad.config"))


def test_no_pushed_models_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no pushed models .* run a pipeline first"):
        write_model_config(str(tmp_path))


def test_compose_file_serves_the_pushed_models_with_the_matching_tf_serving() -> None:
    compose = yaml.safe_load((ROOT / "serving" / "docker-compose.yml").read_text())
    service = compose["services"]["tensorflow-serving"]
    pinned = re.search(r"^tensorflow-serving-api==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M).group(1)
    assert service["image"] == f"tensorflow/serving:{pinned}"  # server and API protos from one release
    assert set(service["ports"]) == {"8500:8500", "8501:8501"}
    assert service["volumes"] == ["../outputs/serving:/models:ro"]  # relative to serving/: the pushers' root
    assert "--model_config_file=/models/models.config" in service["command"]
    assert (ROOT / "serving" / "docker-compose.yml").parent.joinpath("..", "outputs").resolve() == ROOT / "outputs"
