"""One run of a task at a time on a shared MySQL ML Metadata database, across hosts and server restarts.

A run holds two things on the server:

- ``GET_LOCK`` on a connection of its own: the server drops it if the holder's process dies, and
  a second run is refused at once while it is held;
- a row in the table :data:`TABLE` (the lock's name, who holds it, a heartbeat the holder renews
  every :data:`HEARTBEAT_SECONDS`): a server restart ends every session and its ``GET_LOCK``, but not
  the row. The holder reconnects and takes its lock again; meanwhile a row from before the restart
  (its server-start token, kept in a MEMORY table that every restart empties, differs) whose
  heartbeat is under :data:`STALE_SECONDS` old refuses a second run. A run that crashed on a running
  server leaves a row too, but its ``GET_LOCK`` went with it: that row refuses nothing.

Nothing is done on SQLite, where the output folder's file lock serves (:func:`pipelines.local_layout.run_lock`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from ml_metadata.proto.metadata_store_pb2 import ConnectionConfig

from pipelines import metadata_store
from pipelines.local_layout import RunInProgressError

_LOCK_NAME_LIMIT = 64  # MySQL's limit on a GET_LOCK name
TABLE = "tfx_keras_run_locks"
EPOCH_TABLE = "tfx_keras_server_epoch"  # ENGINE=MEMORY: empty after every start of the server
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0  # a heartbeat this old: its run is gone (killed with the host, say)


def lock_name(config: ConnectionConfig, task: str) -> str:
    """The server-wide lock a run of ``task`` holds on the database of ``config`` (MySQL caps names at 64)."""
    name = f"tfx-keras/{config.mysql.database}/{task}"
    if len(name) > _LOCK_NAME_LIMIT:  # long names: a digest of both, so that names stay distinct
        return f"tfx-keras/{hashlib.sha256(name.encode()).hexdigest()[:40]}"
    return name


def _holder(config: ConnectionConfig, task: str, cursor: Any) -> int | None:
    """The connection id holding ``task``'s ``GET_LOCK`` (None: nobody)."""
    cursor.execute("SELECT IS_USED_LOCK(%s)", (lock_name(config, task),))
    return cursor.fetchone()[0]


def _epoch(cursor: Any) -> str | None:
    """A token of the server's current start: a MEMORY table, emptied by every restart (None: cannot tell)."""
    import pymysql

    try:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {EPOCH_TABLE} (id INT PRIMARY KEY, token CHAR(32)) ENGINE=MEMORY")
        cursor.execute(f"INSERT IGNORE INTO {EPOCH_TABLE} (id, token) VALUES (1, %s)", (uuid.uuid4().hex,))
        cursor.execute(f"SELECT token FROM {EPOCH_TABLE} WHERE id = 1")
    except pymysql.err.MySQLError:  # a user who may not create tables (a reader): no restart to tell
        return None
    return str(cursor.fetchone()[0])


def _live_row(config: ConnectionConfig, task: str, cursor: Any, me: str = "") -> str | None:
    """Who holds ``task``'s row from before the server's last start, with a fresh heartbeat (None: nobody).

    Such a run lost its ``GET_LOCK`` with the restart and may not have reconnected yet. A row written
    since the server started whose ``GET_LOCK`` is free is a run that died (a crash): it refuses nothing.
    The heartbeat's age is the server's clock (``UNIX_TIMESTAMP``), whichever host wrote it.
    """
    import pymysql

    try:
        cursor.execute(
            f"SELECT holder, UNIX_TIMESTAMP(NOW(6)) - heartbeat, epoch FROM {TABLE} WHERE name = %s",
            (lock_name(config, task),),
        )
    except pymysql.err.ProgrammingError as err:
        if err.args and err.args[0] == 1146:  # ER_NO_SUCH_TABLE: no run ever locked on this database
            return None
        raise
    row = cursor.fetchone()
    if row is None or row[0] == me or float(row[1]) > STALE_SECONDS:
        return None
    epoch = _epoch(cursor)
    return str(row[0]) if epoch is not None and row[2] != epoch else None  # written before the server started


def check_database_not_running(config: ConnectionConfig, task: str) -> None:
    """Refuse at once if a run of ``task`` holds the database's lock (nothing to check on SQLite).

    Raises:
        MetadataConnectionError: the database cannot be reached or used.
        RunInProgressError: a run of ``task`` holds the lock.
    """
    if not metadata_store.is_mysql(config):
        return
    connection = metadata_store.mysql_connection(config)
    try:
        with connection.cursor() as cursor:
            holder = _holder(config, task, cursor)
            if holder is not None:
                _refuse(config, task, cursor, holder)
            if (row := _live_row(config, task, cursor)) is not None:
                _refuse(config, task, cursor, None, row)
    finally:
        connection.close()


def database_run_in_progress(config: ConnectionConfig, task: str) -> bool:
    """Whether a run of ``task`` holds its lock on the MySQL database of ``config`` now (it takes nothing).

    Raises:
        MetadataConnectionError: the database cannot be reached or used.
    """
    connection = metadata_store.mysql_connection(config)
    try:
        with connection.cursor() as cursor:
            return _holder(config, task, cursor) is not None or _live_row(config, task, cursor) is not None
    finally:
        connection.close()


class _Heartbeat(threading.Thread):
    """Renews the run's row, and after a lost connection (a server restart) reconnects and locks again."""

    def __init__(self, config: ConnectionConfig, task: str, me: str, connection: Any) -> None:
        super().__init__(name="tfx-keras-database-lock", daemon=True)
        self.config, self.task, self.me, self.connection = config, task, me, connection
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            try:
                self._beat()
            except Exception:  # noqa: BLE001 - the server is away (restarting): try again next beat
                with contextlib.suppress(Exception):
                    self.connection.close()
                with contextlib.suppress(Exception):
                    self.connection = metadata_store.mysql_connection(self.config)
                    with self.connection.cursor() as cursor:
                        cursor.execute("SET SESSION wait_timeout = 31536000")
                        cursor.execute("SELECT GET_LOCK(%s, 0)", (lock_name(self.config, self.task),))

    def _beat(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {TABLE} SET heartbeat = UNIX_TIMESTAMP(NOW(6)), epoch = %s WHERE name = %s AND holder = %s",
                (_epoch(cursor), lock_name(self.config, self.task), self.me),
            )


@contextlib.contextmanager
def database_lock(config: ConnectionConfig, task: str) -> Iterator[None]:
    """Hold ``task``'s lock in the MySQL database for a run, or refuse at once (nothing on SQLite).

    Raises:
        MetadataConnectionError: the database cannot be reached or used.
        RunInProgressError: another run of ``task`` holds the lock.
    """
    if not metadata_store.is_mysql(config):
        yield
        return
    name = lock_name(config, task)
    me = f"{socket.gethostname()} pid {os.getpid()} ({uuid.uuid4().hex[:8]})"
    connection = metadata_store.mysql_connection(config)
    heartbeat = None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION wait_timeout = 31536000")  # an idle lock holder outlives a long run
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} "
                "(name VARCHAR(64) PRIMARY KEY, holder VARCHAR(255), heartbeat DOUBLE, epoch CHAR(32))"
            )
            cursor.execute("SELECT GET_LOCK(%s, 0)", (name,))
            if cursor.fetchone()[0] != 1:
                _refuse(config, task, cursor, _holder(config, task, cursor))
            if (row := _live_row(config, task, cursor, me)) is not None:  # a run from before a server restart
                cursor.execute("SELECT RELEASE_LOCK(%s)", (name,))
                _refuse(config, task, cursor, None, row)
            cursor.execute(
                f"REPLACE INTO {TABLE} (name, holder, heartbeat, epoch) VALUES (%s, %s, UNIX_TIMESTAMP(NOW(6)), %s)",
                (name, me, _epoch(cursor)),
            )
        heartbeat = _Heartbeat(config, task, me, connection)
        heartbeat.start()
        yield
    finally:
        if heartbeat is not None:
            heartbeat.stopped.set()
            heartbeat.join(timeout=HEARTBEAT_SECONDS * 2)
            connection = heartbeat.connection
        _let_go(config, connection, name, me)


def _let_go(config: ConnectionConfig, connection: Any, name: str, me: str) -> None:
    """Delete the run's row and release its lock; after a lost connection, the row on a new one."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE} WHERE name = %s AND holder = %s", (name, me))
            cursor.execute("SELECT RELEASE_LOCK(%s)", (name,))
    except Exception:  # noqa: BLE001 - the connection is gone (a restart), and its GET_LOCK with it
        with contextlib.suppress(Exception):
            fresh = metadata_store.mysql_connection(config)
            with fresh.cursor() as cursor:
                cursor.execute(f"DELETE FROM {TABLE} WHERE name = %s AND holder = %s", (name, me))
            fresh.close()
    finally:
        with contextlib.suppress(Exception):
            connection.close()


def _refuse(config: ConnectionConfig, task: str, cursor: Any, holder: int | None, row: str | None = None) -> None:
    if row is not None:
        by = f"the run {row} held it when the server restarted, under {STALE_SECONDS:.0f} s ago"
    else:
        source = ""
        if holder is not None:
            cursor.execute("SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = %s", (holder,))
            found = cursor.fetchone()  # visible for the same user, or with the PROCESS privilege
            source = f" from {found[0]}" if found and found[0] else ""
        by = f"its lock {lock_name(config, task)!r} is held by connection {holder}{source}"
    raise RunInProgressError(
        f"a {task} run is already in progress on ML Metadata {metadata_store.describe(config)} ({by}). Wait "
        "for it to finish: two runs of a task on one metadata database would race for its cache and its "
        "latest blessed model."
    )
