"""A real MariaDB server for tests: Debian's ``mariadb-server`` binaries on a temporary data directory.

``scripts/setup.sh --for-tests`` (what ``scripts/test.sh`` runs) installs them. The server listens
on 127.0.0.1 on a free port and on its own socket, with a user ``tfx`` (password :data:`PASSWORD`)
who may use every database, and is stopped when the context ends. Writes are not flushed to disk at
each commit: a test server need not survive a power cut, and ML Metadata commits often.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

USER, PASSWORD = "tfx", "tfx-test-password"
START_SECONDS = 60.0
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])


def binaries() -> dict[str, str | None]:
    """Where ``mariadb-install-db`` and ``mariadbd`` are (None: not installed)."""
    return {name: shutil.which(name, path=_SEARCH_PATH) for name in ("mariadb-install-db", "mariadbd")}


def missing_reason() -> str | None:
    """Why no MariaDB can start here (None: it can)."""
    absent = [name for name, path in binaries().items() if path is None]
    return (
        f"MariaDB is not installed ({', '.join(absent)} missing): run ./scripts/setup.sh --for-tests"
        if absent
        else None
    )


@dataclasses.dataclass
class MariaDB:
    """A running test server."""

    port: int
    socket: str
    log: Path
    process: subprocess.Popen
    command: list[str] = dataclasses.field(default_factory=list)

    def stop(self) -> None:
        """Stop the server as a shutdown would (its sessions and their locks end)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Stop the server and start it again on the same data and port; returns once it answers."""
        self.stop()
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until_ready(self)

    def url(self, database: str, user: str = USER, password: str = PASSWORD) -> str:
        """The metadata URL of ``database`` on this server."""
        return f"mysql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def execute(self, *statements: str) -> None:
        """Run SQL statements as root (over the socket)."""
        import pymysql

        connection = pymysql.connect(unix_socket=self.socket, user="root", autocommit=True)
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            connection.close()

    def create_database(self, name: str) -> str:
        """Create database ``name``; return its URL for :data:`USER`."""
        self.execute(f"CREATE DATABASE `{name}`")
        return self.url(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(server: MariaDB) -> bool:
    import pymysql

    try:
        pymysql.connect(unix_socket=server.socket, user="root", connect_timeout=1).close()
    except pymysql.err.OperationalError:
        return False
    return True


@contextlib.contextmanager
def mariadb_server(folder: Path) -> Iterator[MariaDB]:
    """Install a data directory under ``folder``, start ``mariadbd`` on it, wait until it answers; stop it after.

    Raises:
        RuntimeError: the server did not install or start (the message holds its log's end).
    """
    paths = binaries()
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    data, log = folder / "data", folder / "mariadb.err"
    # A Unix socket path is limited to ~107 bytes: a short one beside the data, under the system temp.
    sock = folder / "s.sock"
    subprocess.run(
        [
            paths["mariadb-install-db"],
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *as_root,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = _free_port()
    command = [
        paths["mariadbd"],
        "--no-defaults",
        f"--datadir={data}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--socket={sock}",
        f"--pid-file={folder / 'mariadb.pid'}",
        f"--log-error={log}",
        "--skip-name-resolve",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-buffer-pool-size=32M",
        *as_root,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = MariaDB(port=port, socket=str(sock), log=log, process=process, command=command)
    try:
        _wait_until_ready(server)
        server.execute(
            f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'",
            f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%'",
        )
        yield server
    finally:
        server.stop()


def _wait_until_ready(server: MariaDB) -> None:
    """Return once the server answers on its socket; RuntimeError (with its log's end) if it stops or takes long."""
    deadline = time.monotonic() + START_SECONDS
    while not _ready(server):  # each try waits on the socket (up to 1 s), not a blind sleep
        if server.process.poll() is not None or time.monotonic() > deadline:
            tail = server.log.read_text(errors="replace")[-2000:] if server.log.exists() else ""
            raise RuntimeError(f"mariadbd did not start (exit {server.process.poll()}):\n{tail}")
        time.sleep(0.05)  # the socket file appears only once the server listens: do not spin
