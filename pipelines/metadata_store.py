"""Where ML Metadata lives: SQLite in the output folder (the default), or a shared MariaDB/MySQL database.

A run's ``--metadata`` (``metadata.url``) is empty for SQLite at ``<output-dir>/metadata/<task>.sqlite``,
or ``mysql://user[:password]@host[:port]/database`` for a MariaDB or MySQL server that several
output folders or hosts share, as Kubeflow Pipelines keeps its ML Metadata. Everything that opens
the store goes through this module:

- :func:`connection_config` turns the URL (or the SQLite path) into ML Metadata's ``ConnectionConfig``;
- :func:`describe` names that store in a message (never its password);
- :func:`open_store` opens it, or raises :class:`MetadataConnectionError`: one line naming the problem
  (server down, wrong credentials, missing database) and the fix;
- :func:`check_connection` does the same check without opening ML Metadata (a run makes it before it starts).

One run of a task at a time on a shared database is :mod:`pipelines.database_lock`.

ML Metadata's own MySQL client reports every failure to connect as ``mysql_real_connect failed:
errno: , error:`` (no reason), so the server is asked first with PyMySQL, whose errors name it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from typing import Any

from ml_metadata.proto import metadata_store_pb2

from common.settings import ConfigError

SCHEMES = ("mysql", "mariadb")
DEFAULT_PORT = 3306
CONNECT_TIMEOUT_SECONDS = 5
# Every read and write of a check or of the lock's queries: a server (or something else on its port)
# that accepts and never answers ends the check instead of hanging the run.
READ_TIMEOUT_SECONDS = 20
EXAMPLE = "mysql://user:password@host:3306/database"
# ML Metadata writes the name into SQL unquoted: a letter or _ first, then letters, digits, _ or $.
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,63}$")
PASSWORD_VARIABLE = "MYSQL_PWD"  # MySQL's own: the password, when the URL has none (not on the command line)


class MetadataURLError(ConfigError):
    """The metadata URL is malformed; the message names what is wrong and the form it takes."""


class MetadataConnectionError(RuntimeError):
    """ML Metadata's database cannot be reached or used; the message is one line naming the fix."""


class MetadataLostError(MetadataConnectionError):
    """ML Metadata's server stopped answering during a run (exit 1): the run ended where it was."""


def lost(config: metadata_store_pb2.ConnectionConfig, err: BaseException, where: str = "") -> MetadataLostError:
    """The one line for a server that went away during a run, which ended at component ``where``."""
    at = f" at {where}" if where else ""
    return MetadataLostError(
        f"ML Metadata's MySQL server {describe(config)} stopped answering during the run, which ended{at} "
        f"({str(err).strip().splitlines()[0][:120]}): start the server and run again; the components that "
        "finished are cached"
    )


@dataclasses.dataclass(frozen=True)
class MySQLURL:
    """A parsed ``mysql://user[:password]@host[:port]/database``."""

    user: str
    password: str
    host: str
    port: int
    database: str

    def __str__(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"  # no password, ever


def parse_url(url: str) -> MySQLURL:
    """Parse a metadata URL.

    Raises:
        MetadataURLError: a scheme other than mysql (or mariadb), no user, no host, a bad port, no
            database, or anything else in the URL (query, fragment).
    """
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError as err:
        raise _url_error(url, str(err)) from None
    if "://" not in url or parts.scheme.lower() not in SCHEMES:
        scheme = f"has scheme {parts.scheme!r}" if "://" in url else "has no scheme"
        raise _url_error(url, f"{scheme}: ML Metadata here is SQLite (no URL) or MariaDB/MySQL (mysql://)")
    if "@" in url.split("://", 1)[1] and "@" not in parts.netloc:  # a / ? or # in the password ended the host early
        raise _url_error(url, "has a password with / ? # or @ in it: percent-encode them (/ is %2F, @ is %40)")
    if not parts.hostname:
        raise _url_error(url, "names no host")
    try:
        port = parts.port
    except ValueError:
        raise _url_error(url, f"port {parts.netloc.rsplit(':', 1)[-1]!r} is not a number from 1 to 65535") from None
    if port is not None and not 0 < port < 65536:
        raise _url_error(url, f"port {port} is not a number from 1 to 65535")
    if not parts.username:
        raise _url_error(url, "names no user")
    database = parts.path.lstrip("/")
    if not database:
        raise _url_error(url, "names no database (the path after the host)")
    if not _DATABASE_NAME.match(database):
        raise _url_error(
            url,
            f"database name {database!r} must start with a letter or _ and hold only letters, digits, _ or $ "
            "(64 at most; ML Metadata does not quote it)",
        )
    if parts.query or parts.fragment:
        raise _url_error(url, "takes no ?query or #fragment")
    return MySQLURL(
        user=urllib.parse.unquote(parts.username),
        password=urllib.parse.unquote(parts.password)
        if parts.password is not None
        else os.environ.get(PASSWORD_VARIABLE, ""),
        host=parts.hostname,
        port=port or DEFAULT_PORT,
        database=database,
    )


def _url_error(url: str, problem: str) -> MetadataURLError:
    return MetadataURLError(f"metadata URL {hide_password(url)!r} {problem}; the form is {EXAMPLE}")


def hide_password(url: str) -> str:
    """``url`` with everything of its user part after the user name hidden (up to its last @), to show it."""
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return url
    user_info, _, host_part = rest.rpartition("@")
    return f"{scheme}://{user_info.split(':', 1)[0]}:***@{host_part}" if ":" in user_info else url


def connection_config(
    url: str | None, sqlite_path: str, read_only: bool = False
) -> metadata_store_pb2.ConnectionConfig:
    """ML Metadata's connection: the MariaDB/MySQL database of ``url``, or SQLite at ``sqlite_path`` if it is empty.

    Building it touches nothing: no folder, no file, no connection (a dry run writes nothing). On
    MySQL the database must exist (ML Metadata is told not to create one: a mistyped name would
    otherwise start an empty history); ``localhost`` is taken as 127.0.0.1, since ML Metadata's
    client would look for a Unix socket instead.

    Args:
        url: ``mysql://user[:password]@host[:port]/database``; None or "" for SQLite.
        sqlite_path: the SQLite file (``LocalLayout.metadata_path``), used when ``url`` is empty.
        read_only: open SQLite read-only (a reader such as the web UI; a missing file is then an error).

    Raises:
        MetadataURLError: ``url`` is malformed.
    """
    config = metadata_store_pb2.ConnectionConfig()
    if not url:
        config.sqlite.filename_uri = sqlite_path
        config.sqlite.connection_mode = (
            metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
            if read_only
            else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        )
        return config
    parsed = parse_url(url)
    config.mysql.host = "127.0.0.1" if parsed.host == "localhost" else parsed.host
    config.mysql.port = parsed.port
    config.mysql.database = parsed.database
    config.mysql.user = parsed.user
    config.mysql.password = parsed.password
    config.mysql.skip_db_creation = True
    return config


def is_mysql(config: metadata_store_pb2.ConnectionConfig) -> bool:
    """True if ``config`` is a MariaDB/MySQL database (else SQLite)."""
    return config.WhichOneof("config") == "mysql"


def describe(config: metadata_store_pb2.ConnectionConfig) -> str:
    """The store in words, for messages: ``mysql://user@host:port/db`` (no password) or ``SQLite <path>``."""
    if is_mysql(config):
        m = config.mysql
        return f"mysql://{m.user}@{m.host}:{m.port}/{m.database}"
    return f"SQLite {config.sqlite.filename_uri}"


def check_connection(config: metadata_store_pb2.ConnectionConfig) -> None:
    """Check that the store can be opened, before a run starts; SQLite needs no check (the run creates it).

    Raises:
        MetadataConnectionError: the server is down or unreachable, the credentials are refused, the
            database is missing or the user may not use it.
    """
    if is_mysql(config):
        mysql_connection(config).close()


def open_store(config: metadata_store_pb2.ConnectionConfig) -> Any:
    """An ``ml_metadata.MetadataStore`` on ``config``, after :func:`check_connection`.

    Raises:
        MetadataConnectionError: the database cannot be reached or used (a read-only SQLite file
            that does not exist included), in one line naming the fix.
    """
    from ml_metadata import metadata_store

    check_connection(config)
    read_only = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    if not is_mysql(config) and config.sqlite.connection_mode == read_only:
        if not os.path.isfile(config.sqlite.filename_uri):
            raise MetadataConnectionError(
                f"no ML Metadata at {config.sqlite.filename_uri}: run the task's pipeline first (tfx-keras run TASK)"
            )
    try:
        return metadata_store.MetadataStore(config)
    except RuntimeError as err:  # ML Metadata's C++ errors, e.g. a schema newer than this ML Metadata
        first = (str(err).strip().splitlines() or [""])[0]
        raise MetadataConnectionError(f"cannot open ML Metadata at {describe(config)}: {first}") from None


def open_existing(config: metadata_store_pb2.ConnectionConfig) -> Any:
    """The store on ``config`` read-only, or None when it is a SQLite file that does not exist yet (a first run)."""
    if is_mysql(config):
        return open_store(config)
    if not os.path.isfile(config.sqlite.filename_uri):
        return None
    read_only = metadata_store_pb2.ConnectionConfig()
    read_only.CopyFrom(config)
    read_only.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return open_store(read_only)


def mysql_connection(config: metadata_store_pb2.ConnectionConfig) -> Any:
    """A PyMySQL connection (autocommit) to the MySQL database of ``config``: for a check, or a lock.

    Raises:
        MetadataConnectionError: one line naming the problem and the fix.
    """
    import pymysql

    m = config.mysql
    where = f"{m.host}:{m.port}"
    try:
        return pymysql.connect(
            host=m.host,
            port=m.port,
            user=m.user,
            password=m.password,
            database=m.database,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            write_timeout=READ_TIMEOUT_SECONDS,
            autocommit=True,
        )
    except pymysql.err.MySQLError as err:
        code = err.args[0] if err.args and isinstance(err.args[0], int) else 0
        reason = str(err.args[1]) if len(err.args) > 1 else str(err)
        if code == 1045:  # ER_ACCESS_DENIED_ERROR
            message = (
                f"the MySQL server at {where} refused user {m.user!r} ({reason}): fix the user and password "
                "in --metadata (metadata.url)"
            )
        elif code == 1044:  # ER_DBACCESS_DENIED_ERROR: a missing database reads the same to a user without rights
            message = (
                f"user {m.user!r} may not use database {m.database!r} at {where} (it is missing, or the user has no "
                f"rights on it): as an administrator, CREATE DATABASE {m.database}; GRANT ALL ON {m.database}.* "
                f"TO '{m.user}'@'%'"
            )
        elif code == 1049:  # ER_BAD_DB_ERROR
            message = (
                f"database {m.database!r} does not exist on the MySQL server at {where}: create it "
                f"(CREATE DATABASE {m.database}), or fix the name in --metadata (metadata.url)"
            )
        elif code in (2003, 2005, 2006, 2013):  # cannot connect, unknown host, gone away, lost (a timeout)
            detail = re.sub(r"^Can't connect to MySQL server on '[^']*' ", "", reason).strip("() ")
            message = (
                f"cannot reach the MySQL server at {where} ({detail}): start it, or fix the host and port "
                "in --metadata (metadata.url)"
            )
        else:
            message = f"cannot use ML Metadata at {describe(config)}: MySQL error {code}: {reason}"
        raise MetadataConnectionError(message) from None
