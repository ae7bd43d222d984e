"""Connecting to the database and keeping its schema current.

SQLite (WAL) is the embedded default, a file next to the user; PostgreSQL is the
same code with another URL. The schema is created and upgraded only by Alembic
migrations (``irflow/migrations``), which ``irflow init`` runs. Every driver error
of the engine becomes a ``StorageError`` (``irflow.engine.storage``).

A SQLite file this process may not write (the file, or its folder, which must hold
the write-ahead log's -wal and -shm files) is opened read-only: read commands and
``verify`` work on it, and a write is refused with ``DatabaseReadOnly``.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine as SAEngine
from sqlalchemy import create_engine, event, inspect, text

from irflow.engine import storage
from irflow.errors import DatabaseReadOnly, InvalidInput, NotInitialised, StorageError

DEFAULT_URL = "sqlite:///irflow.db"
ENV_VAR = "IRFLOW_DB"


def database_url(url: str | None = None) -> str:
    """The URL to use: the one given, else ``$IRFLOW_DB``, else ``irflow.db`` here."""
    chosen = url or os.environ.get(ENV_VAR) or DEFAULT_URL
    if chosen.startswith(("postgresql://", "postgres://")):
        # psycopg 3 is the driver irflow installs; SQLAlchemy's default is psycopg2.
        chosen = "postgresql+psycopg://" + chosen.split("://", 1)[1]
    return chosen


_READ_ONLY = "irflow_read_only"
"""Set in a connection record's ``info`` when its SQLite file was opened read-only."""


def _read_only_mode(path: str) -> str | None:
    """The SQLite URI parameters that open ``path`` read-only; None if it may be written.

    A WAL database is read through its -shm file (the log's index): SQLite creates it
    in the folder if it can, or uses the one there. Where it can do neither (a copy,
    closed cleanly, in a folder that may not be written), the file is opened as
    immutable, which needs no -shm; that is only right when there is no -wal to read.
    """
    if not os.path.exists(path):
        return None  # `irflow init` creates it (or is told it cannot)
    wal, shm = f"{path}-wal", f"{path}-shm"
    folder_writable = os.access(os.path.dirname(path) or ".", os.W_OK)
    sidecars_writable = os.access(wal, os.W_OK) and os.access(shm, os.W_OK)
    if os.access(path, os.W_OK) and (folder_writable or sidecars_writable):
        return None
    if folder_writable or os.path.exists(shm):
        return "mode=ro"
    if os.path.exists(wal) and os.path.getsize(wal) > 0:
        raise DatabaseReadOnly(
            f"{path} is read-only and its write-ahead log {wal} cannot be read without "
            f"{shm}, which its folder may not hold; copy the database with its -wal file "
            "into a writable folder",
            where=path,
        )
    return "mode=ro&immutable=1"


def _sqlite_open(_dialect: Any, record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
    """Open a file this process may not write read-only (``_read_only_mode``)."""
    if cparams.get("uri"):
        return  # the URL chose how to open the file
    path = cargs[0]
    mode = _read_only_mode(path)
    if mode is None:
        return
    cargs[0] = f"file:{quote(path)}?{mode}"
    cparams["uri"] = True
    record.info[_READ_ONLY] = True


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    if not record.info.get(_READ_ONLY):
        # Setting the journal mode writes the file's header: never on a read-only file.
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str | None = None, *, connections: int | None = None) -> SAEngine:
    """A SQLAlchemy engine for ``url``, with SQLite set up for WAL and foreign keys, and
    every driver error translated (``storage.install``).

    ``connections``: how many connections the pool keeps open for threads at once
    (SQLAlchemy's default, 5 and 10 more on demand, suits a command; a service with N
    threads needs about 2N: each thread keeps one for the hot path, and may borrow one)."""
    resolved = database_url(url)
    sizing = {} if connections is None else {"pool_size": connections, "max_overflow": 4}
    try:
        engine = create_engine(resolved, **sizing)
    except Exception as exc:  # bad URL, missing driver: both are the caller's to fix
        raise InvalidInput(
            f"cannot use database URL {resolved!r} ({exc}); give sqlite:///FILE or "
            "postgresql://USER@HOST/DB"
        ) from None
    storage.install(engine)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "do_connect", _sqlite_open)
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config(engine: SAEngine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "irflow:migrations")
    # The config is a ConfigParser: a "%" (percent-encoded password or query) must be doubled.
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision(engine: SAEngine) -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: SAEngine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return str(row[0]) if row else None


def migrate(engine: SAEngine) -> bool:
    """Upgrade the schema to the newest migration; return whether anything changed."""
    from alembic import command
    from alembic.util import CommandError

    current = current_revision(engine)
    if current == head_revision(engine):
        return False
    config = _alembic_config(engine)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except CommandError as exc:  # a revision of a newer irflow
        where = storage.describe(engine.url)
        raise StorageError(
            f"{where} has schema revision {current!r}, which this irflow does not know "
            f"({exc}); use the irflow version that last ran `irflow init` on it",
            where=where,
        ) from exc
    return True


def _missing_sqlite_file(engine: SAEngine) -> bool:
    name = engine.url.database
    return (
        engine.dialect.name == "sqlite"
        and bool(name)
        and name != ":memory:"
        and not (os.path.exists(name or ""))
    )


def require_schema(engine: SAEngine) -> None:
    """Refuse to work on a database that ``irflow init`` has not prepared.

    A SQLite file that does not exist is not created by the check.
    """
    if _missing_sqlite_file(engine) or current_revision(engine) is None:
        raise NotInitialised(
            f"the database {engine.url.render_as_string()!r} has no irflow schema; "
            "run `irflow init` first (or pass --db to use another database)"
        )
