"""``tfx-keras ui``'s pages over a tiny ML Metadata store written with the ml_metadata API (no pipeline, no browser).

The browser test on a real pipeline's output folder is in tests/e2e/test_mnist_pipeline_e2e.py.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ui_store
from ml_metadata.proto import metadata_store_pb2 as pb

from common.metadata_names import BASELINE_STATISTICS_ID, DECLARED_EDGES, RESOLVER_ID, VALIDATOR_ID
from pipelines.run_records import RunRecord, span_of
from pipelines.ui import graphs
from pipelines.ui.reads import Catalog, _edges
from pipelines.ui.server import Background, serve_in_background
from pipelines.ui.stores import sources_for

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ui_store.make_output_dir(tmp_path_factory.mktemp("ui") / "outputs")


@pytest.fixture(scope="module")
def ui(output_dir: Path) -> Iterator[Background]:
    catalog = Catalog(
        sources_for(str(output_dir)),
        str(output_dir),
        read_metrics=lambda _: {"accuracy": 0.9},
        read_failures=lambda _: [],
    )
    server = serve_in_background(catalog)
    yield server
    server.stop()


def get(ui: Background, path: str) -> str:
    with urllib.request.urlopen(ui.url.rstrip("/") + path, timeout=30) as response:
        return response.read().decode()


def rows(page: str, css_class: str) -> list[str]:
    return re.findall(rf'<tr class="{css_class}"(.*?)</tr>', page, re.S)


def test_the_run_list_is_newest_first_with_each_outcome_and_the_headline_metric(ui: Background) -> None:
    page = get(ui, "/")
    runs = [re.search(r'data-run="([^"]+)" data-outcome="([^"]+)"', row).groups() for row in rows(page, "run")]
    assert runs == [
        ("run-3", "stopped by data validation"),
        ("run-2", "nothing new (cached)"),
        ("run-1", "pushed"),
    ]
    assert "accuracy = 0.9000" in rows(page, "run")[2]


def test_a_runs_dag_shows_each_components_state_and_links_to_it(ui: Background) -> None:
    first, cached, stopped = (get(ui, f"/run/tiny/run-{n}") for n in (1, 2, 3))
    pages = {1: first, 2: cached, 3: stopped}
    states = {n: re.findall(r'data-node="([^"]+)" data-state="([^"]+)"', p) for n, p in pages.items()}
    assert states[1] == [(node, "done") for node in ui_store.NODES]
    assert states[2] == [(node, "cached") for node in ui_store.NODES]
    assert states[3] == [("ExampleGen", "done"), ("DataValidator", "failed")] + [
        (node, "not run") for node in ui_store.NODES[2:]
    ]
    svg = first[first.index("<svg") :]
    assert svg.count('class="node state_done"') == len(ui_store.NODES)
    assert 'href="/run/tiny/run-1/component/Trainer"' in svg  # each node is a link
    assert "<title>Trainer&#45;&gt;Evaluator</title>" in svg  # the edges come from what read what
    assert 'id="lineage-link" href="/lineage/tiny/' in first


def test_a_component_shows_its_artifacts_and_the_pictures_it_wrote(ui: Background, output_dir: Path) -> None:
    page = get(ui, "/run/tiny/run-1/component/DataValidator")
    assert rows(page, "artifact") and 'data-type="ExampleAnomalies"' in page and "JENSEN_SHANNON" in page
    [src] = re.findall(r'<img src="([^"]+)"', page)
    picture = urllib.parse.unquote(src.split("path=", 1)[1])
    assert picture.endswith("report/drift.png") and picture.startswith(str(output_dir))
    with urllib.request.urlopen(ui.url.rstrip("/") + src) as response:
        assert response.headers["Content-Type"] == "image/png" and response.read() == ui_store.PNG
    assert "data_report.html</a>" in page


@pytest.mark.reliability
def test_only_files_inside_the_output_folder_are_served(ui: Background, output_dir: Path) -> None:
    secret = output_dir.parent / "secret.txt"  # beside the output folder
    secret.write_text("not for the UI")
    sibling = output_dir.parent / f"{output_dir.name}-x"  # a folder whose name starts like it
    sibling.mkdir(exist_ok=True)
    (sibling / "file.txt").write_text("not for the UI")
    link = output_dir / "pipelines" / "link.txt"  # a link inside it, to a file outside
    link.unlink(missing_ok=True)
    link.symlink_to(secret)
    outside = ["/etc/passwd", "../../../../../../etc/passwd", f"{output_dir}/../secret.txt", str(sibling / "file.txt"),
               str(link), "pipelines/link.txt"]  # fmt: skip
    for path in outside:
        with pytest.raises(urllib.error.HTTPError) as err:
            get(ui, "/file?path=" + urllib.parse.quote(path, safe=""))
        assert err.value.code == 404 and "Traceback" not in err.value.read().decode(), path
    inside = next(p for p in output_dir.rglob("*.png"))
    for path in (str(inside), str(inside.relative_to(output_dir))):  # absolute, or relative to the output folder
        with urllib.request.urlopen(ui.url.rstrip("/") + "/file?path=" + urllib.parse.quote(path), timeout=30) as r:
            assert r.read() == inside.read_bytes()


def test_the_lineage_of_the_pushed_model_and_its_served_version(ui: Background, output_dir: Path) -> None:
    run_page = get(ui, "/run/tiny/run-1")
    link = re.search(r'id="lineage-link" href="([^"]+)"', run_page).group(1)
    page = get(ui, link)
    kinds = re.findall(r'<tr class="lineage-item" data-type="([^"]+)"', page)
    assert sorted(kinds) == ["Examples", "Model", "ModelBlessing", "PushedModel"]
    assert "Served as <b>tiny version 5</b> (the latest" in page
    assert 'href="/run/tiny/run-1/component/Trainer"' in page  # the trainer run behind it


def test_served_versions_name_the_run_that_pushed_each(ui: Background) -> None:
    page = get(ui, "/served")
    [row] = rows(page, "version")
    assert 'data-version="5"' in row and 'href="/run/tiny/run-1"' in row and "(latest)" in row


def test_history_charts_metrics_drift_and_anomalies_per_span(ui: Background) -> None:
    page = get(ui, "/history/tiny")
    for chart in ("metrics-chart", "drift-chart", "anomalies-chart"):
        section = page[page.index(f'id="{chart}"') :]
        assert section.split("</div>", 1)[0].count("<svg") == 1, chart
    assert "x (jensen_shannon)" in page  # the drift panel of feature x


def _free_port_taken() -> tuple[socket.socket, int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, holder.getsockname()[1]


@pytest.mark.reliability
def test_cli_errors_are_one_line_naming_the_fix(
    tmp_path: Path, output_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    from pipelines.cli import main

    (tmp_path / "empty" / "metadata").mkdir(parents=True)
    (tmp_path / "empty" / "metadata" / "x.sqlite").write_bytes(b"")
    holder, port = _free_port_taken()
    cases = {
        str(tmp_path / "missing"): "does not exist: pass the --output-dir of your runs",
        str(tmp_path): "no ML Metadata in",
        str(tmp_path / "empty"): "no pipeline run in the ML Metadata of",
        str(output_dir): f"port {port} on 127.0.0.1 is in use: pass another --port",
    }
    with holder:
        for folder, message in cases.items():
            assert main(["ui", "--output-dir", folder, "--port", str(port)]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
        closer, closed = _free_port_taken()
        closer.close()  # a port nothing listens on
    for url, message in {"postgres://u@h/db": "mysql://", f"mysql://tfx@127.0.0.1:{closed}/mlmd": "127.0.0.1"}.items():
        assert main(["ui", "--metadata", url, "--port", str(port)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, err


def test_the_ui_needs_neither_tft_nor_tfx() -> None:
    code = (
        "import sys; import pipelines.cli.ui, pipelines.ui.server, pipelines.ui.reads; "
        "print(sorted(m for m in ('tensorflow_transform', 'tfx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _record(run: str, node_of: dict[int, str], events: list[tuple[int, int, int]]) -> RunRecord:
    """A run's record from (execution id, artifact id, event type) triples."""
    return RunRecord(
        pipeline="p",
        run=pb.Context(name=run),
        executions=[pb.Execution(id=e) for e in node_of],
        node_of=node_of,
        events=[pb.Event(execution_id=e, artifact_id=a, type=t) for e, a, t in events],
        artifacts={},
        type_names={},
    )


def test_a_resolver_is_drawn_between_what_it_read_and_what_read_its_outputs() -> None:
    out, internal, read = pb.Event.OUTPUT, pb.Event.INTERNAL_OUTPUT, pb.Event.INPUT
    first_nodes = {1: "Trainer", 2: "resolver", 3: "Evaluator", 4: "InfraValidator"}
    # run 1: no baseline yet; the resolver passes on the candidate, which the Evaluator reads from the Trainer
    first = _record("r1", first_nodes, [(1, 10, out), (2, 10, internal), (3, 10, read), (4, 10, read)])
    # run 2: a new candidate (11); the resolver resolves run 1's model (10) as the Evaluator's baseline
    second_nodes = {5: "Trainer", 6: "resolver", 7: "Evaluator", 8: "InfraValidator"}
    second = _record("r2", second_nodes, [(5, 11, out), (6, 11, internal), (6, 10, internal),
                                          (7, 11, read), (7, 10, read), (8, 11, read)])  # fmt: skip
    edges = _edges([first, second])
    assert ("Trainer", "resolver") in edges  # the candidate it read
    assert ("resolver", "Evaluator") in edges  # the baseline it gave
    assert ("resolver", "InfraValidator") not in edges  # the candidate came from the Trainer, not the resolver
    assert ("Trainer", "Evaluator") in edges and ("Trainer", "InfraValidator") in edges


def test_edges_the_pipeline_declares_but_no_event_shows_are_drawn_dashed() -> None:
    nodes = [("StatisticsGen", "COMPLETE", 1.0, "/a"), (BASELINE_STATISTICS_ID, "COMPLETE", 0.0, "/b"),
             (VALIDATOR_ID, "CACHED", None, "/c")]  # fmt: skip
    source = graphs.dag_source(nodes, {("StatisticsGen", VALIDATOR_ID)}, {(BASELINE_STATISTICS_ID, VALIDATOR_ID)})
    assert f'"{BASELINE_STATISTICS_ID}" -> "{VALIDATOR_ID}" [style=dashed];' in source
    assert (BASELINE_STATISTICS_ID, VALIDATOR_ID) in DECLARED_EDGES and (RESOLVER_ID, "Evaluator") in DECLARED_EDGES


def test_a_span_kept_as_a_custom_property_is_read() -> None:
    as_custom = pb.Artifact()
    as_custom.custom_properties["span"].int_value = 0  # TFDSExampleGen writes span 0 here
    as_property = pb.Artifact()
    as_property.properties["span"].int_value = 3
    assert [span_of(as_custom), span_of(as_property), span_of(pb.Artifact())] == [0, 3, None]


@pytest.mark.reliability
def test_a_host_the_ui_does_not_serve_is_refused(ui: Background, output_dir: Path) -> None:
    """DNS rebinding: a page of attacker.example resolving to 127.0.0.1 must not read the UI."""
    for host in ("attacker.example", "attacker.example:8080"):
        request = urllib.request.Request(ui.url, headers={"Host": host})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=30)
        assert err.value.code == 403
        assert (
            "does not serve the host name 'attacker.example': start it with --allow-host" in err.value.read().decode()
        )
    for host in ("localhost", "127.0.0.1", f"localhost:{urllib.parse.urlparse(ui.url).port}", "[::1]"):
        with urllib.request.urlopen(urllib.request.Request(ui.url, headers={"Host": host}), timeout=30) as r:
            assert r.status == 200, host
    extra = serve_in_background(Catalog(sources_for(str(output_dir)), str(output_dir)), extra_hosts=["ui.corp"])
    try:
        with urllib.request.urlopen(urllib.request.Request(extra.url, headers={"Host": "ui.corp"}), timeout=30) as r:
            assert r.status == 200
    finally:
        extra.stop()


@pytest.mark.reliability
def test_only_the_pictures_and_reports_pages_link_are_served(ui: Background, output_dir: Path) -> None:
    """Not ML Metadata's database, logs or anything else under the output folder."""
    for path in ("metadata/tiny.sqlite", "logs/tiny.log", str(output_dir / "metadata" / "tiny.sqlite")):
        with pytest.raises(urllib.error.HTTPError) as err:
            get(ui, "/file?path=" + urllib.parse.quote(path, safe=""))
        assert err.value.code == 404, path


@pytest.mark.reliability
def test_a_big_file_is_streamed_in_pieces(ui: Background, output_dir: Path) -> None:
    from pipelines.ui import server

    report = next(output_dir.rglob("data_report.html"))
    original = report.read_bytes()
    report.write_bytes(b"<html>" + b"x" * (5 * server.FILE_CHUNK) + b"</html>")
    try:
        url = ui.url.rstrip("/") + "/file?path=" + urllib.parse.quote(str(report))
        with urllib.request.urlopen(url, timeout=30) as response:
            assert int(response.headers["Content-Length"]) == report.stat().st_size
            assert response.read() == report.read_bytes()
    finally:
        report.write_bytes(original)


@pytest.mark.reliability
@pytest.mark.parametrize("artifact", [str(2**63), str(2**64 + 5), "9" * 40])
def test_a_lineage_id_beyond_int64_is_not_found(ui: Background, artifact: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        get(ui, f"/lineage/tiny/{artifact}")
    assert err.value.code == 404


@pytest.mark.reliability
@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_port_out_of_range_is_refused(port: str, capsys: pytest.CaptureFixture) -> None:
    from pipelines.cli import main

    with pytest.raises(SystemExit) as done:
        main(["ui", "--port", port])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --port: {port!r} is not a port: give a number from 0 (any free port) to 65535" in err


@pytest.mark.reliability
def test_a_stopped_span_shows_its_anomalies_and_its_data_report(ui: Background) -> None:
    page = get(ui, "/run/tiny/run-3/component/DataValidator")
    assert 'id="stopped"' in page and "Stopped: span 2 did not pass" in page
    assert ui_store.STOPPED_BECAUSE.replace(">", "&gt;") in page
    [link] = re.findall(r'<a href="(/file\?path=[^"]+data_report.html)"', page)
    assert "the stopped span" in get(ui, link.replace("&amp;", "&"))


@pytest.mark.reliability
def test_metadata_that_cannot_be_read_is_one_line_not_a_hang(output_dir: Path, tmp_path: Path) -> None:
    """A page whose reads fail says why in one line; one whose reads hang ends at the time limit."""
    import shutil
    import threading

    from pipelines.ui import server

    copy = tmp_path / "outputs"
    shutil.copytree(output_dir, copy, symlinks=True)
    catalog = Catalog(sources_for(str(copy)), str(copy), read_metrics=lambda _: {}, read_failures=lambda _: [])
    release = threading.Event()
    original = catalog.runs
    broken = {"how": "hang"}

    def runs(*args: object) -> object:
        if broken["how"] == "hang":
            release.wait(30)
        elif broken["how"] == "fail":
            raise RuntimeError("database disk image is malformed\nmore detail")
        return original(*args)

    catalog.runs = runs  # type: ignore[method-assign]
    old_timeout, server.READ_TIMEOUT_S = server.READ_TIMEOUT_S, 0.5
    ui = serve_in_background(catalog)
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            get(ui, "/")
        assert err.value.code == 503 and "ML Metadata did not answer within 0.5 s" in err.value.read().decode()
        release.set()
        broken["how"] = "fail"
        with pytest.raises(urllib.error.HTTPError) as err:
            get(ui, "/")
        text = err.value.read().decode()
        assert err.value.code == 500 and "cannot read ML Metadata (database disk image is malformed)" in text, text
    finally:
        server.READ_TIMEOUT_S = old_timeout
        ui.stop()


@pytest.mark.reliability
def test_pictures_of_runs_from_another_output_folder_are_served(output_dir: Path, tmp_path: Path) -> None:
    """A shared database shows runs of several output folders: their artifacts' pictures are served too."""
    catalog = Catalog(
        sources_for(str(output_dir)), str(tmp_path), read_metrics=lambda _: {}, read_failures=lambda _: []
    )
    ui = serve_in_background(catalog)
    try:
        picture = next(output_dir.rglob("drift.png"))
        with urllib.request.urlopen(ui.url.rstrip("/") + "/file?path=" + urllib.parse.quote(str(picture))) as r:
            assert r.read() == picture.read_bytes()
    finally:
        ui.stop()
