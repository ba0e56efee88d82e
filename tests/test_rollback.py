"""Rolling a served model back: its folder leaves serving, ML Metadata remembers, the pipeline never takes it again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ui_store
from helpers.artifacts import artifact
from helpers.toy_model import write_toy_model
from ml_metadata import metadata_store
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from common.metadata_names import ROLLED_BACK_KEY
from components.atomic_pusher import AtomicPusherExecutor
from components.baseline_resolver import select_baseline
from pipelines.cli import main
from pipelines.metadata_store import connection_config


@pytest.fixture()
def pushed_twice(tmp_path: Path) -> Path:
    """An output folder whose ML Metadata recorded the push of version 5, with version 4 served before it."""
    out = ui_store.make_output_dir(tmp_path / "outputs")
    (out / "serving" / ui_store.PIPELINE / "4").mkdir()  # yesterday's version, still on disk
    return out


def _store(out: Path) -> metadata_store.MetadataStore:
    return metadata_store.MetadataStore(connection_config(None, str(out / "metadata" / f"{ui_store.PIPELINE}.sqlite")))


@pytest.mark.reliability
def test_a_rollback_serves_the_previous_version_and_marks_the_bad_one(
    pushed_twice: Path, capsys: pytest.CaptureFixture
) -> None:
    serving = pushed_twice / "serving" / ui_store.PIPELINE
    assert main(["serving", "rollback", ui_store.PIPELINE, "--output-dir", str(pushed_twice)]) == 0
    printed = capsys.readouterr().out
    assert f"rolled back {ui_store.PIPELINE}: version 4 is served again" in printed
    kept = pushed_twice / "serving" / ".rolled_back" / ui_store.PIPELINE / "5"
    assert f"version 5 moved out of serving, kept in {kept}" in printed
    assert sorted(p.name for p in serving.iterdir()) == ["4"] and kept.is_dir()  # the latest policy serves 4
    store = _store(pushed_twice)
    marked = {a.id for a in store.get_artifacts() if a.custom_properties[ROLLED_BACK_KEY].int_value == 1}
    types = {t.id: t.name for t in store.get_artifact_types()}
    marked_types = sorted(types[a.type_id] for a in store.get_artifacts_by_id(sorted(marked)))
    assert marked_types == ["Model", "ModelBlessing", "PushedModel"]  # the model found through its blessing
    assert "marked rolled back: never the Evaluator's baseline, never pushed again" in printed
    # Nothing newer than version 4 is left: a second rollback has nothing to go back to.
    assert main(["serving", "rollback", ui_store.PIPELINE, "--output-dir", str(pushed_twice)]) == 2
    assert "has one version (4): there is no earlier version to serve" in capsys.readouterr().err


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to", "3"], "has no version 3 under"),
        (["--to", "5"], "version 5 is the newest of tiny already: nothing to roll back"),
    ],
)
def test_a_rollback_that_cannot_be_done_is_one_line(
    pushed_twice: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["serving", "rollback", ui_store.PIPELINE, "--output-dir", str(pushed_twice), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert sorted(p.name for p in (pushed_twice / "serving" / ui_store.PIPELINE).iterdir()) == ["4", "5"]


@pytest.mark.reliability
def test_a_rollback_without_the_runs_metadata_is_refused_before_anything_moves(
    pushed_twice: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["serving", "rollback", ui_store.PIPELINE, "--model-base-path", str(pushed_twice / "serving")]
    assert main([*argv, "--output-dir", str(tmp_path / "elsewhere")]) == 2
    assert "give the --output-dir (or --metadata) of the runs that pushed it" in capsys.readouterr().err
    assert sorted(p.name for p in (pushed_twice / "serving" / ui_store.PIPELINE).iterdir()) == ["4", "5"]


def test_a_rolled_back_model_is_never_the_evaluators_baseline() -> None:
    models = [artifact(standard_artifacts.Model, 1), artifact(standard_artifacts.Model, 2, **{ROLLED_BACK_KEY: 1})]
    blessings = [artifact(standard_artifacts.ModelBlessing, 10 + i, current_model_id=i, blessed=1) for i in (1, 2)]
    candidate = artifact(standard_artifacts.Model, 3)
    assert [m.id for m in select_baseline(models, blessings, [candidate])["model"]] == [1]


@pytest.mark.reliability
def test_a_rolled_back_model_is_never_pushed_again(tmp_path: Path) -> None:
    """A re-run that executes the Pusher again (no cache) on a rolled-back model's blessing pushes nothing."""
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    blessing = artifact(standard_artifacts.ModelBlessing, 11, blessed=1, current_model_id=2, **{ROLLED_BACK_KEY: 1})
    infra = artifact(standard_artifacts.InfraBlessing, 12, blessed=1)
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(tmp_path / "serving"))
    )
    AtomicPusherExecutor().Do(
        {"model_blessing": [blessing], "infra_blessing": [infra]},
        {"pushed_model": [pushed]},
        {"push_destination": proto_utils.proto_to_json(destination), "custom_config": None},
    )
    assert pushed.get_int_custom_property("pushed") == 0 and not (tmp_path / "serving").exists()
    assert pushed.get_string_custom_property("reason") == "this model was rolled back; it is not pushed again"


def test_the_uis_served_page_shows_labels_their_moves_skew_and_the_rolled_back_version(pushed_twice: Path) -> None:
    import re
    import urllib.request

    from pipelines.ui.reads import Catalog
    from pipelines.ui.server import serve_in_background
    from pipelines.ui.stores import sources_for

    assert main(["serving", "rollback", ui_store.PIPELINE, "--output-dir", str(pushed_twice)]) == 0
    serving = pushed_twice / "serving"
    (serving / ui_store.PIPELINE / "4").rmdir()
    write_toy_model(str(serving / ui_store.PIPELINE), 4)  # a real SavedModel: a label names only one
    assert main(["serving-config", "--serving-root", str(serving), "--base-path", "."]) == 0
    argv = ["serving", "label", ui_store.PIPELINE, "stable", "4", "--model-config-file", str(serving / "models.config")]
    assert main(argv) == 0
    report = pushed_twice / "monitor" / ui_store.PIPELINE / "4-20261208T010000"  # what `tfx-keras monitor` wrote
    report.mkdir(parents=True)
    (report / "data_report.html").write_text("<html>skew report</html>")
    skew = {"model": ui_store.PIPELINE, "version": 4, "requests": 34, "baseline": "span 1 (the training data ...)",
            "measurements": [{"feature": "x", "measure": "JENSEN_SHANNON_DIVERGENCE", "value": 0.9, "threshold": 0.3}],
            "anomalies": []}  # fmt: skip
    (report / "skew.json").write_text(json.dumps(skew))
    catalog = Catalog(sources_for(str(pushed_twice)), str(pushed_twice), read_metrics=lambda _: {},
                      read_failures=lambda _: [])  # fmt: skip
    ui = serve_in_background(catalog)
    try:
        with urllib.request.urlopen(ui.url + "served", timeout=30) as response:
            page = response.read().decode()
        link = re.search(r'<a href="/file\?path=([^"]+)">report</a>', page)
        assert link is not None, page
        with urllib.request.urlopen(ui.url + f"file?path={link.group(1)}", timeout=30) as response:
            assert response.read() == b"<html>skew report</html>"  # the monitor's report is served
    finally:
        ui.stop()
    [(served, row)] = re.findall(r'<tr class="version" data-model="tiny" data-version="(\d+)">(.*?)</tr>', page, re.S)
    assert served == "4" and '<span class="label">stable</span>' in row
    assert "<b>skew</b>: x 0.90 &gt; 0.3" in row and "in 34 requests" in row
    [move] = re.findall(r'<tr class="move">(.*?)</tr>', page, re.S)
    assert "<td>stable</td><td></td><td>4</td>" in move  # the label's first move: from nothing to 4
    [row] = re.findall(r'<tr class="rolled-back" data-model="tiny" data-version="5">(.*?)</tr>', page, re.S)
    assert 'href="/run/tiny/run-1"' in row and " UTC" in row  # the run that pushed it, and when it was rolled back


@pytest.mark.reliability
def test_a_label_moved_in_the_model_config_is_served_without_a_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`serving label` writes version_labels (and a policy serving them); a server re-reading the file follows."""
    import json
    import urllib.request

    from helpers.toy_model import write_toy_model

    from serving.model_store import ModelStore, read_model_config_file
    from serving.server import ServerOptions, ServingServer
    from serving.tf_serving_config import write_model_config

    root = tmp_path / "serving"
    for version in (1, 2):
        write_toy_model(str(root / "toy"), version)
    config = write_model_config(str(root), base_path=str(root))
    store = ModelStore(lambda: read_model_config_file(config), poll_seconds=3600)  # as `serve --model-config-file`
    with ServingServer(store, ServerOptions(port=0, rest_api_port=-1)) as server:

        def stable() -> int:
            """The version that answers for the label: the toy model of version v answers v * sum(x)."""
            body = json.dumps({"signature_name": "serving_raw", "instances": [[1.0, 1.0]]}).encode()
            url = f"{server.rest_url}/v1/models/toy/labels/stable:predict"
            with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as response:
                return round(json.loads(response.read())["predictions"][0]["y"] / 2)

        assert main(["serving", "label", "toy", "stable", "1", "--model-config-file", config]) == 0
        assert "toy: label stable -> version 1, in " in capsys.readouterr().out
        store.poll(settle=False)
        assert stable() == 1  # the older version is served for its label, the newest beside it
        assert main(["serving", "label", "toy", "stable", "2", "--model-config-file", config]) == 0
        assert "(was version 1)" in capsys.readouterr().out
        store.poll(settle=False)
        assert stable() == 2
        assert main(["serving", "label", "toy", "stable", "7", "--model-config-file", config]) == 2
        assert "toy has no servable version 7" in capsys.readouterr().err
    history = [json.loads(line) for line in Path(f"{config}.labels.jsonl").read_text().splitlines()]
    assert [(h["label"], h["from"], h["to"]) for h in history] == [("stable", None, 1), ("stable", 1, 2)]
