"""Storage errors, translated in one place.

A caller of irflow never catches an exception of sqlite3, psycopg or SQLAlchemy:
``translate`` turns each into a ``StorageError`` subclass whose one-line message
names the SQLite file or the database URL (password hidden) and what to do, and
keeps the driver's error as ``__cause__``. It is applied where driver errors arise:

- every statement, connect, commit and rollback SQLAlchemy runs, for every
  ``Session`` and ``Connection`` of an engine: ``install`` makes it the engine's
  ``handle_error`` listener (``database.make_engine`` installs it), so no block of
  ORM code needs wrapping;
- the ledger's bare-driver connections, which SQLAlchemy does not see:
  ``connections.ThreadConnections`` calls ``translate`` itself;
- anything else: ``with storage_errors(where):``.

A unique-key violation is the one driver error the engine's listener lets through
(as SQLAlchemy's ``IntegrityError``): a caller that expects a race on a key catches
it there (registering a flow version); ``storage_errors`` maps it where it is not
expected.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from irflow.errors import (
    DatabaseCorrupt,
    DatabaseFull,
    DatabaseReadOnly,
    DatabaseUnavailable,
    StorageError,
)

if TYPE_CHECKING:
    from sqlalchemy import URL
    from sqlalchemy import Engine as SAEngine
    from sqlalchemy.engine import ExceptionContext

_Kind = tuple[type[StorageError], str]
"""The error class and its message, with ``{where}`` and ``{detail}`` (the driver's words)."""

CORRUPT: _Kind = (
    DatabaseCorrupt,
    "{where} is not an irflow database ({detail}); restore it from a backup or point "
    "--db elsewhere",
)
FULL: _Kind = (
    DatabaseFull,
    "{where} has no room left ({detail}); free space on its disk and run the command again",
)
READ_ONLY_FILE: _Kind = (
    DatabaseReadOnly,
    "{where} is read-only ({detail}); read commands and verify work on it, a write needs "
    "the file and its folder writable (or a writable copy)",
)
READ_ONLY_SERVER: _Kind = (
    DatabaseReadOnly,
    "{where} is read-only ({detail}); point --db at the primary server, or at a user who may write",
)
LOST: _Kind = (
    DatabaseUnavailable,
    "{where} lost its connection ({detail}); check the server and run the command again",
)
NO_CONNECTION: _Kind = (
    DatabaseUnavailable,
    "cannot connect to {where} ({detail}); check that the server runs and that the URL is right",
)
CANNOT_OPEN: _Kind = (
    DatabaseUnavailable,
    "cannot open {where} ({detail}); check that the file and its folder exist and that "
    "you may read them",
)
BUSY: _Kind = (
    DatabaseUnavailable,
    "{where} is busy ({detail}): another process holds it; run the command again",
)
DISK: _Kind = (
    StorageError,
    "{where} could not be read or written ({detail}); check its disk and run the command again",
)
REFUSED: _Kind = (
    StorageError,
    "{where} refused the change ({detail}); another writer may have changed the same "
    "rows: run the command again",
)
FAILED: _Kind = (
    StorageError,
    "{where} failed ({detail}); if irflow was upgraded, run `irflow init`, then the command again",
)

# SQLite's primary result codes (the low byte of an extended code).
_SQLITE: dict[int, _Kind] = {
    sqlite3.SQLITE_NOTADB: CORRUPT,
    sqlite3.SQLITE_CORRUPT: CORRUPT,
    sqlite3.SQLITE_FULL: FULL,
    sqlite3.SQLITE_READONLY: READ_ONLY_FILE,
    sqlite3.SQLITE_CANTOPEN: CANNOT_OPEN,
    sqlite3.SQLITE_PERM: CANNOT_OPEN,
    sqlite3.SQLITE_AUTH: CANNOT_OPEN,
    sqlite3.SQLITE_BUSY: BUSY,
    sqlite3.SQLITE_LOCKED: BUSY,
    sqlite3.SQLITE_IOERR: DISK,
    sqlite3.SQLITE_CONSTRAINT: REFUSED,
}

# PostgreSQL's SQLSTATE codes, the whole code first, then its two-character class.
_POSTGRES: dict[str, _Kind] = {
    "53100": FULL,  # disk_full
    "53300": BUSY,  # too_many_connections
    "25006": READ_ONLY_SERVER,  # read_only_sql_transaction (a standby)
    "42501": READ_ONLY_SERVER,  # insufficient_privilege (a user who may only read)
    "55P03": BUSY,  # lock_not_available
    "XX001": CORRUPT,  # data_corrupted
    "XX002": CORRUPT,  # index_corrupted
    "57P01": LOST,  # admin_shutdown (pg_terminate_backend, a server stopping)
    "57P02": LOST,  # crash_shutdown
    "57P03": NO_CONNECTION,  # cannot_connect_now (starting up)
    "57014": BUSY,  # query_canceled (a statement or lock timeout)
    "08": LOST,  # connection_exception
    "28": NO_CONNECTION,  # invalid_authorization_specification
    "3D": NO_CONNECTION,  # invalid_catalog_name (no such database)
    "40": BUSY,  # transaction_rollback: serialization failure, deadlock
    "23": REFUSED,  # integrity_constraint_violation
}


def describe(url: URL) -> str:
    """How a message names the database: the SQLite file, or the URL without its password
    (nor its query, which may hold one: ``?password=``, ``sslpassword``)."""
    if url.get_backend_name() == "sqlite":
        name = url.database or ""
        if name in ("", ":memory:"):
            return "the in-memory SQLite database"
        return name if name.startswith("file:") else os.path.abspath(name)
    bare = url.set(drivername=url.get_backend_name(), query={})
    return bare.render_as_string(hide_password=True)


def translate(exc: BaseException, where: str, *, connecting: bool = False) -> StorageError | None:
    """The ``StorageError`` for a dependency's error (None if ``exc`` is not one).

    ``connecting``: the error arose while opening a connection, so a PostgreSQL
    error without a code means the server could not be reached, not that it was lost.
    """
    driver = getattr(exc, "orig", None) if isinstance(exc, DBAPIError) else exc
    if driver is None:
        driver = exc
    kind: _Kind
    if isinstance(exc, PoolTimeout):
        kind = BUSY  # every pooled connection is taken
    elif isinstance(driver, sqlite3.Error):
        code = getattr(driver, "sqlite_errorcode", None)
        kind = FAILED if code is None else _SQLITE.get(code & 0xFF, FAILED)
    elif _is_psycopg(driver):
        kind = _postgres_kind(driver, connecting)
    elif isinstance(exc, DBAPIError):
        kind = FAILED  # a driver irflow does not know
    else:
        return None
    cls, template = kind
    error = cls(template.format(where=where, detail=_detail(driver)), where=where)
    error.__cause__ = driver
    return error


def _is_psycopg(driver: BaseException) -> bool:
    # psycopg is optional and only loaded by a PostgreSQL URL: never imported here.
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(driver, psycopg.Error)


def _postgres_kind(driver: BaseException, connecting: bool) -> _Kind:
    import psycopg

    sqlstate: str | None = getattr(driver, "sqlstate", None)
    if sqlstate is None:
        # A client-side error: psycopg found the connection failed or closed.
        if isinstance(driver, psycopg.OperationalError | psycopg.InterfaceError):
            return NO_CONNECTION if connecting else LOST
        return FAILED
    kind = _POSTGRES.get(sqlstate) or _POSTGRES.get(sqlstate[:2], FAILED)
    if connecting and kind is LOST:
        return NO_CONNECTION
    return kind


def _detail(driver: BaseException) -> str:
    """The driver's message, first line only (psycopg adds hints on more lines)."""
    lines = str(driver).strip().splitlines()
    return lines[0].strip() if lines else type(driver).__name__


@contextmanager
def storage_errors(where: str, *, connecting: bool = False) -> Iterator[None]:
    """Translate the dependency errors raised in the block (``translate``)."""
    try:
        yield
    except Exception as exc:
        error = translate(exc, where, connecting=connecting)
        if error is None:
            raise
        raise error from error.__cause__


def install(engine: SAEngine) -> None:
    """Translate every driver error of every ``Session`` and ``Connection`` of ``engine``.

    A handler that raises replaces the error SQLAlchemy would raise; SQLAlchemy still
    invalidates a connection that was lost first, so the next command opens a new one.
    """
    where = describe(engine.url)
    integrity = engine.dialect.loaded_dbapi.IntegrityError

    def translate_error(context: ExceptionContext) -> None:
        driver = context.original_exception
        if context.is_pre_ping or isinstance(driver, integrity):
            return
        # No connection yet: the error arose while connecting.
        error = translate(driver, where, connecting=context.connection is None)
        if error is not None:
            raise error

    event.listen(engine, "handle_error", translate_error)
