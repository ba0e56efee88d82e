"""ML Metadata on SQLite (the default) or a shared MariaDB/MySQL: the URL, clear errors, one run at a time.

The server tests start a real MariaDB (``mariadb`` fixture, tests/helpers/mariadb.py) and run
``tfx-keras run`` against it: every mistake is one line, exit code 2, before anything runs.
"""

from __future__ import annotations

import logging
import multiprocessing
import socket
import urllib.parse
from pathlib import Path

import pytest
from helpers.mariadb import PASSWORD

from pipelines import metadata_store
from pipelines.cli import main
from pipelines.database_lock import check_database_not_running, database_lock, database_run_in_progress, lock_name
from pipelines.local_layout import RunInProgressError
from pipelines.metadata_store import MetadataConnectionError, MetadataURLError, connection_config, describe


def test_a_mysql_url_becomes_ml_metadatas_mysql_connection() -> None:
    config = connection_config("mysql://ml%40team:p%3Ass@db.example.com/mlmd", "/unused.sqlite")
    m = config.mysql
    assert (m.host, m.port, m.database, m.user, m.password) == ("db.example.com", 3306, "mlmd", "ml@team", "p:ss")
    assert m.skip_db_creation  # a mistyped name is an error, not a new, empty history
    assert describe(config) == "mysql://ml@team@db.example.com:3306/mlmd"  # never the password
    # ML Metadata's client takes "localhost" for a Unix socket; the URL means the TCP port it names.
    assert connection_config("mariadb://u@localhost:3307/x", "").mysql.host == "127.0.0.1"


def test_each_task_and_database_has_its_own_lock_within_mysqls_limit() -> None:
    def name(database: str, task: str) -> str:
        return lock_name(connection_config(f"mysql://u@db/{database}", ""), task)

    assert name("mlmd", "penguin") == "tfx-keras/mlmd/penguin"
    long_names = {name(database, task) for database in ("a" * 60 + "1", "a" * 60 + "2") for task in ("mnist", "ticket")}
    assert len(long_names) == 4 and all(len(n) <= 64 for n in long_names)
    long_tasks = {name("mlmd", "t" * 60 + suffix) for suffix in ("_a", "_b")}  # the same first 64 characters
    assert len(long_tasks) == 2 and all(len(n) <= 64 for n in long_tasks)


def test_without_a_url_ml_metadata_is_sqlite_in_the_output_folder_and_nothing_is_created(tmp_path: Path) -> None:
    path = tmp_path / "out" / "metadata" / "mnist.sqlite"
    config = connection_config("", str(path))
    assert config.sqlite.filename_uri == str(path) and describe(config) == f"SQLite {path}"
    metadata_store.check_connection(config)
    assert not (tmp_path / "out").exists()  # a dry run, or a run refused by its checks, leaves nothing behind
    with pytest.raises(MetadataConnectionError, match=r"no ML Metadata at .*mnist.sqlite: run the task's pipeline"):
        metadata_store.open_store(connection_config(None, str(path), read_only=True))  # a reader creates nothing
    assert not (tmp_path / "out").exists()


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://u:secret@db/mlmd", "has scheme 'postgresql': ML Metadata here is SQLite (no URL) or MariaDB"),
        ("db.example.com:3306/mlmd", "has no scheme"),
        ("mysql://u:secret@/mlmd", "names no host"),
        ("mysql://u:secret@db/", "names no database"),
        ("mysql://u:secret@db:33o6/mlmd", "port '33o6' is not a number from 1 to 65535"),
        ("mysql://u:secret@db:70000/mlmd", "port '70000' is not a number from 1 to 65535"),
        ("mysql://db:3306/mlmd", "names no user"),
        ("mysql://u:secret@db/ml;md", "database name 'ml;md' must start with a letter or _ and hold only letters"),
        ("mysql://u:secret@db/ml-md", "database name 'ml-md' must start with a letter or _ and hold only letters"),
        ("mysql://u:secret@db/12345", "database name '12345' must start with a letter or _"),
        ("mysql://u:se/cret@db/mlmd", "has a password with / ? # or @ in it: percent-encode them"),
        ("mysql://u:se#cret@db/mlmd", "has a password with / ? # or @ in it: percent-encode them"),
        ("mysql://u:s@cret@db/", "names no database"),
    ],
)
def test_a_wrong_metadata_url_is_a_usage_error_naming_the_form(
    url: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    assert main(["run", "penguin", "--metadata", url, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: metadata URL '"), err
    assert problem in err and "the form is mysql://user:password@host:3306/database" in err
    assert "cret" not in err and "Traceback" not in err  # no part of the password, however the URL broke
    assert not out.exists()
    with pytest.raises(MetadataURLError, match="the form is"):
        connection_config(url, "")


def test_the_config_field_is_checked_too_and_never_reaches_the_components(capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "penguin", "--set", "metadata.url=mysql://u@db:port/mlmd", "--dry-run"]) == 2
    assert "port 'port' is not a number" in capsys.readouterr().err
    from pipelines import tasks
    from pipelines.config import apply_overrides
    from pipelines.pipeline import create_pipeline

    spec = tasks.get("penguin")
    url = "mysql://tfx:hunter2@db.example.com/mlmd"
    config = apply_overrides(spec.default_config(), [f"metadata.url={url}"])
    assert config.metadata.url == url
    pipeline = create_pipeline(spec, config, "/root", "/serving", connection_config(url, ""))
    for component in pipeline.components:  # execution properties are stored in ML Metadata in clear text
        assert "hunter2" not in str(component.exec_properties), component.id
    assert main(["config", "penguin", "--set", f"metadata.url={url}"]) == 0  # shown, without the password
    printed = capsys.readouterr().out
    assert "metadata.url = 'mysql://tfx:***@db.example.com/mlmd'" in printed and "hunter2" not in printed


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.parametrize("mistake", ["server down", "wrong password", "unknown user", "missing database", "no rights"])
def test_an_unusable_database_is_one_line_naming_the_fix_before_anything_runs(
    mistake: str,
    mariadb,  # noqa: ANN001 - helpers.mariadb.MariaDB
    mariadb_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    database = mariadb_url.rsplit("/", 1)[1]
    if mistake == "no rights":
        mariadb.execute("CREATE USER IF NOT EXISTS 'guest'@'%' IDENTIFIED BY 'guest-pw'")
    url, expected = {
        "server down": (
            f"mysql://tfx:pw@127.0.0.1:{_unused_port()}/{database}",
            "cannot reach the MySQL server at 127.0.0.1:{port} ([Errno 111] Connection refused): start it, "
            "or fix the host and port in --metadata (metadata.url)",
        ),
        "wrong password": (
            mariadb.url(database, password="not-it"),
            "the MySQL server at 127.0.0.1:{port} refused user 'tfx' (Access denied for user 'tfx'@'127.0.0.1' "
            "(using password: YES)): fix the user and password in --metadata (metadata.url)",
        ),
        "unknown user": (
            mariadb.url(database, user="nobody"),
            "the MySQL server at 127.0.0.1:{port} refused user 'nobody' (Access denied for user 'nobody'@'127.0.0.1' "
            "(using password: YES)): fix the user and password in --metadata (metadata.url)",
        ),
        "missing database": (
            mariadb.url("no_such_db"),
            "database 'no_such_db' does not exist on the MySQL server at 127.0.0.1:{port}: create it "
            "(CREATE DATABASE no_such_db), or fix the name in --metadata (metadata.url)",
        ),
        "no rights": (
            mariadb.url(database, user="guest", password="guest-pw"),
            f"user 'guest' may not use database '{database}' at 127.0.0.1:{{port}} (it is missing, or the user "
            f"has no rights on it): as an administrator, CREATE DATABASE {database}; GRANT ALL ON {database}.* "
            "TO 'guest'@'%'",
        ),
    }[mistake]
    port = url.rsplit(":", 1)[1].split("/")[0]
    out = tmp_path / "out"
    assert main(["run", "penguin", "--metadata", url, "--output-dir", str(out), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"error: {expected.format(port=port)}" in err, err
    assert urllib.parse.urlsplit(url).password not in err  # no password in any message
    assert not out.exists()
    if mistake == "wrong password":  # a real run stops at the same check: no component ran
        assert main(["run", "penguin", "--metadata", url, "--output-dir", str(out)]) == 2
        assert "refused user 'tfx'" in capsys.readouterr().err
        assert not (out / "pipelines").exists()


def _hold_lock(url: str, held: multiprocessing.Event, release: multiprocessing.Event) -> None:
    with database_lock(connection_config(url, ""), "penguin"):
        held.set()
        release.wait(60)


@pytest.mark.slow
@pytest.mark.reliability
def test_a_second_run_on_the_same_database_is_refused_from_any_output_folder(
    mariadb_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The lock is the database's: another output folder (or host) is refused while a run holds it."""
    config = connection_config(mariadb_url, "")
    held, release = multiprocessing.Event(), multiprocessing.Event()
    first = multiprocessing.Process(target=_hold_lock, args=(mariadb_url, held, release))
    first.start()
    try:
        assert held.wait(60)
        elsewhere = tmp_path / "another-output-dir"
        assert main(["run", "penguin", "--metadata", mariadb_url, "--output-dir", str(elsewhere)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(
            f"error: a penguin run is already in progress on ML Metadata {describe(config)} (its lock "
            f"{lock_name(config, 'penguin')!r} is held by connection "
        ), err
        assert "from 127.0.0.1:" in err and "Wait for it to finish" in err and "Traceback" not in err
        assert not (elsewhere / "pipelines").exists()
        with pytest.raises(RunInProgressError, match="already in progress on ML Metadata"):
            with database_lock(config, "penguin"):
                pass
        with database_lock(config, "ticket"):  # another task may run beside it
            pass
        # what the UI asks to show a run as running: the lock, not a process id of another host
        assert database_run_in_progress(config, "penguin") and not database_run_in_progress(config, "ticket")
    finally:
        release.set()
        first.join(60)
    assert not database_run_in_progress(config, "penguin")
    check_database_not_running(config, "penguin")  # free again once the first run ended
    with database_lock(config, "penguin"):
        pass


def _hold_and_die(url: str, held: multiprocessing.Event) -> None:
    import os

    with database_lock(connection_config(url, ""), "penguin"):
        held.set()
        os._exit(1)  # a crash: no release


@pytest.mark.slow
@pytest.mark.reliability
def test_a_crashed_run_leaves_no_stale_lock(mariadb_url: str) -> None:
    """The server drops a dead connection's lock: unlike a leftover lock file, nothing needs cleaning up."""
    config = connection_config(mariadb_url, "")
    held = multiprocessing.Event()
    crashed = multiprocessing.Process(target=_hold_and_die, args=(mariadb_url, held))
    crashed.start()
    assert held.wait(60)
    crashed.join(60)
    # The server notices the closed connection on its own thread: wait until it has let the lock go.
    connection = metadata_store.mysql_connection(config)  # the kind of connection a run's lock is held on
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, 30)", (lock_name(config, "penguin"),))
            assert cursor.fetchone()[0] == 1  # granted as soon as the dead holder's session ends
    finally:
        connection.close()


@pytest.mark.slow
def test_the_stock_runner_keeps_its_runs_and_cache_in_mysql(
    mariadb_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Progress, cache and the summary read back from MariaDB: two tiny components, run twice; no password logged."""
    from helpers.tiny_components import SumNumbers, WriteNumbers
    from tfx import v1 as tfx

    from pipelines.local_runner import Progress, run_dag
    from pipelines.run_summary import summarize

    config = connection_config(mariadb_url, str(tmp_path / "unused.sqlite"))

    def run() -> tuple[object, list[str]]:
        numbers = WriteNumbers(count=4)
        total = SumNumbers(examples=numbers.outputs["examples"])
        pipeline = tfx.dsl.Pipeline(
            pipeline_name="tiny",
            pipeline_root=str(tmp_path / "root"),
            components=[numbers, total],
            metadata_connection_config=config,
            enable_cache=True,
        )
        lines: list[str] = []
        dag = run_dag(pipeline, Progress(lines.append))
        return dag, [" ".join(line.split()[:3]) for line in lines]

    caplog.set_level(logging.INFO)
    dag, lines = run()
    assert lines == ["[pipeline] WriteNumbers done", "[pipeline] SumNumbers done"] and dag.failure is None
    assert "Using connection config" in caplog.text and 'password: "***"' in caplog.text  # what the log file gets
    assert PASSWORD not in caplog.text
    assert summarize(config, "tiny", dag.run_id, dag.components).components == {
        "WriteNumbers": "COMPLETE",
        "SumNumbers": "COMPLETE",
    }
    dag, lines = run()
    assert lines == ["[pipeline] WriteNumbers cached", "[pipeline] SumNumbers cached"]
    assert summarize(config, "tiny").run_id == dag.run_id  # the latest run, found in MySQL
    assert not (tmp_path / "unused.sqlite").exists()
    store = metadata_store.open_store(config)
    assert {c.name for c in store.get_contexts_by_type("pipeline")} == {"tiny"}


def test_kubeflow_pipelines_refuse_a_metadata_url() -> None:
    from pipelines.config import ConfigError
    from pipelines.kubeflow import build_kubeflow_pipeline, load_cloud_config

    cloud = load_cloud_config(str(Path(__file__).resolve().parents[1] / "cloud.example.json"))
    with pytest.raises(ConfigError, match="metadata.url is for `tfx-keras run`: Kubeflow and Vertex AI keep"):
        build_kubeflow_pipeline("penguin", cloud, ["metadata.url=mysql://tfx@db.example.com/mlmd"])


@pytest.mark.reliability
def test_the_password_can_come_from_mysql_pwd_instead_of_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.metadata_store import parse_url

    monkeypatch.setenv("MYSQL_PWD", "from-the-environment")
    assert parse_url("mysql://tfx@db/mlmd").password == "from-the-environment"
    assert parse_url("mysql://tfx:given@db/mlmd").password == "given"  # the URL's own wins
    assert connection_config("mysql://tfx@db/mlmd", "").mysql.password == "from-the-environment"


@pytest.mark.reliability
def test_a_server_that_accepts_and_never_answers_ends_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Something on the port that is not MySQL (or a hung server): one line, not a run hung forever."""
    import socket

    from pipelines import metadata_store

    monkeypatch.setattr(metadata_store, "READ_TIMEOUT_SECONDS", 1)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        config = connection_config(f"mysql://tfx:pw@127.0.0.1:{port}/mlmd", "")
        with pytest.raises(MetadataConnectionError, match=rf"cannot reach the MySQL server at 127.0.0.1:{port}"):
            metadata_store.check_connection(config)


@pytest.mark.slow
@pytest.mark.reliability
def test_the_one_run_lock_survives_a_restart_of_the_database_server(tmp_path: Path) -> None:
    """A restart ends the holder's session and its GET_LOCK: the run's row refuses a second run meanwhile."""
    from helpers.mariadb import mariadb_server, missing_reason

    if missing_reason():
        pytest.skip(missing_reason())
    with mariadb_server(tmp_path / "db") as server:
        url = server.create_database("restarted")
        config = connection_config(url, "")
        held, release = multiprocessing.Event(), multiprocessing.Event()
        first = multiprocessing.Process(target=_hold_lock, args=(url, held, release))
        first.start()
        try:
            assert held.wait(60)
            server.restart()  # run A goes on; its connection is gone
            with pytest.raises(RunInProgressError, match=r"\(the run .* held it when the server restarted"):
                with database_lock(config, "penguin"):
                    pass
            with pytest.raises(RunInProgressError):
                check_database_not_running(config, "penguin")  # the check before a run says the same
            import time

            from pipelines.database_lock import HEARTBEAT_SECONDS, _holder

            deadline = time.monotonic() + 4 * HEARTBEAT_SECONDS  # run A's heartbeat reconnects and locks again
            while True:
                connection = metadata_store.mysql_connection(config)
                with connection.cursor() as cursor:
                    holder = _holder(config, "penguin", cursor)
                connection.close()
                if holder is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert holder is not None, "run A did not take its GET_LOCK again after the restart"
        finally:
            release.set()
            first.join(60)
        assert not database_run_in_progress(config, "penguin")  # run A ended and let go
        with database_lock(config, "penguin"):
            pass


@pytest.mark.slow
@pytest.mark.reliability
def test_a_database_server_that_stops_during_a_run_ends_it_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from helpers.data import penguin_rows, write_penguin_span
    from helpers.mariadb import mariadb_server, missing_reason

    from pipelines import local_runner

    if missing_reason():
        pytest.skip(missing_reason())
    write_penguin_span(tmp_path / "in", 1, "csv", penguin_rows())
    with mariadb_server(tmp_path / "db") as server:
        url = server.create_database("stopped")
        finished = local_runner.Progress.finished

        def stop_after_statistics(self: object, node: str, state: str, seconds: float) -> None:
            finished(self, node, state, seconds)
            if node == "StatisticsGen":
                server.stop()  # the server is shut down while the run goes on

        monkeypatch.setattr(local_runner.Progress, "finished", stop_after_statistics)
        argv = ["run", "penguin", "--input-base", str(tmp_path / "in"), "--output-dir", str(tmp_path / "out")]
        assert main([*argv, "--metadata", url, "--set", "training.epochs=2"]) == 1
    err = capsys.readouterr().err
    assert f"error: ML Metadata's MySQL server {describe(connection_config(url, ''))} stopped answering" in err
    assert "start the server and run again" in err and "Traceback" not in err and PASSWORD not in err
