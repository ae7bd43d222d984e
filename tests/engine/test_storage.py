"""Storage errors: every error of the drivers and of SQLAlchemy becomes a StorageError
that names the file or URL and what to do; read-only SQLite copies can be read."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from irflow.engine import storage
from irflow.engine.database import make_engine
from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.errors import (
    DatabaseCorrupt,
    DatabaseFull,
    DatabaseReadOnly,
    DatabaseUnavailable,
    StorageError,
)
from irflow.testing import MovableClock
from tests import storage_faults
from tests.conftest import START, pg_base_url, pg_schema
from tests.storage_faults import (
    DAMAGES,
    SANJO,
    disk_full,
    irflow_file,
    named_url,
    read_only,
    snapshot,
    terminate,
)

admin = storage_faults.admin

WHERE = "/srv/irflow/irflow.db"


def _subclasses(base: type[BaseException]) -> list[type[BaseException]]:
    found, todo = [base], [base]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


def _sqlalchemy_errors() -> list[BaseException]:
    wrapped = [
        cls("SELECT 1", {}, Exception("the driver said no"))
        for cls in _subclasses(sa_exc.DBAPIError)
        if cls.__module__ == "sqlalchemy.exc"
    ]
    return [*wrapped, sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached")]


DEPENDENCY_ERRORS = [
    *_sqlalchemy_errors(),
    *(cls("the driver said no") for cls in _subclasses(sqlite3.Error)),
    *(cls("the driver said no") for cls in _subclasses(psycopg.Error)),
]
"""One of every error class SQLAlchemy, sqlite3 and psycopg raise for a database."""


@pytest.mark.parametrize(
    "error", DEPENDENCY_ERRORS, ids=lambda e: f"{type(e).__module__}.{type(e).__qualname__}"
)
def test_every_dependency_error_is_mapped(error: BaseException) -> None:
    """Each storage error of sqlite3, psycopg and SQLAlchemy becomes a StorageError of one
    line naming the database and what to do, with the driver's error as its cause."""
    with pytest.raises(StorageError) as raised, storage.storage_errors(WHERE):
        raise error
    message = raised.value.message
    assert WHERE in message
    assert "; " in message  # what to do follows what failed
    assert "\n" not in message
    assert raised.value.where == WHERE
    driver = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    assert raised.value.__cause__ is driver


def _sqlite_error(code: int, message: str) -> sqlite3.Error:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


def _case(id: str, error: BaseException, kind: type[StorageError], words: str) -> object:
    return pytest.param(error, kind, words, id=id)


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        _case("sqlite-notadb", _sqlite_error(26, "file is not a database"), DatabaseCorrupt,
              "is not an irflow database"),
        _case("sqlite-corrupt", _sqlite_error(11, "database disk image is malformed"),
              DatabaseCorrupt, "restore it"),
        _case("sqlite-full", _sqlite_error(13, "database or disk is full"), DatabaseFull,
              "free space"),
        _case("sqlite-readonly", _sqlite_error(8, "attempt to write a readonly database"),
              DatabaseReadOnly, "read-only"),
        _case("sqlite-readonly-dbmoved", _sqlite_error(1032, "attempt to write a readonly "
              "database"), DatabaseReadOnly, "read-only"),
        _case("sqlite-cantopen", _sqlite_error(14, "unable to open database file"),
              DatabaseUnavailable, "cannot open"),
        _case("sqlite-busy", _sqlite_error(5, "database is locked"), DatabaseUnavailable,
              "is busy"),
        _case("sqlite-ioerr-short-read", _sqlite_error(522, "disk I/O error"), StorageError,
              "check its disk"),
        _case("pg-admin-shutdown", psycopg.errors.AdminShutdown("terminating connection"),
              DatabaseUnavailable, "lost its connection"),
        _case("pg-closed", psycopg.OperationalError("server closed the connection"),
              DatabaseUnavailable, "lost its connection"),
        _case("pg-interface", psycopg.InterfaceError("the connection is closed"),
              DatabaseUnavailable, "lost its connection"),
        _case("pg-disk-full", psycopg.errors.DiskFull("could not extend file"), DatabaseFull,
              "free space"),
        _case("pg-standby", psycopg.errors.ReadOnlySqlTransaction("read-only transaction"),
              DatabaseReadOnly, "primary server"),
        _case("pg-privilege", psycopg.errors.InsufficientPrivilege("permission denied"),
              DatabaseReadOnly, "a user who may write"),
        _case("pg-data-corrupted", psycopg.errors.DataCorrupted("invalid page"),
              DatabaseCorrupt, "restore it"),
        _case("pg-serialization", psycopg.errors.SerializationFailure("concurrent update"),
              DatabaseUnavailable, "run the command again"),
        _case("pg-unique", psycopg.errors.UniqueViolation("duplicate key"), StorageError,
              "refused the change"),
        _case("pool-timeout", sa_exc.TimeoutError("QueuePool limit"), DatabaseUnavailable,
              "is busy"),
    ],
)  # fmt: skip
def test_each_failure_gets_its_own_class_and_advice(
    error: BaseException, kind: type[StorageError], words: str
) -> None:
    """The class says what kind of failure it is, the message what to do about it."""
    mapped = storage.translate(error, WHERE)
    assert type(mapped) is kind
    assert mapped is not None
    assert words in mapped.message


def test_a_server_that_cannot_be_reached_is_not_a_lost_connection() -> None:
    """A connection that never was is named as such: check the server and the URL."""
    refused = psycopg.OperationalError("connection failed: Connection refused\n\tIs it up?")
    mapped = storage.translate(refused, "postgresql://irflow@db/irflow", connecting=True)
    assert isinstance(mapped, DatabaseUnavailable)
    assert mapped.message == (
        "cannot connect to postgresql://irflow@db/irflow (connection failed: Connection "
        "refused); check that the server runs and that the URL is right"
    )


@pytest.mark.parametrize(
    "error",
    [ValueError("a bug"), sa_exc.InvalidRequestError("a bug")],
    ids=lambda e: type(e).__name__,
)
def test_errors_that_are_not_the_databases_pass_unchanged(error: Exception) -> None:
    """A bug of irflow's is not dressed up as a storage failure."""
    with pytest.raises(type(error)) as raised, storage.storage_errors(WHERE):
        raise error
    assert raised.value is error


def test_a_url_is_named_without_its_password() -> None:
    """Messages name a PostgreSQL database by a URL that holds no password."""
    url = make_engine("postgresql://irflow:secret@db:5432/irflow?sslpassword=secret2").url
    assert storage.describe(url) == "postgresql://irflow:***@db:5432/irflow"


# ---------------------------------------------------------------- every backend


def test_a_failed_statement_of_any_session_is_translated(engine: Engine) -> None:
    """Statements SQLAlchemy runs (every Session and Connection) are translated by the
    engine itself, with no block of code wrapped."""
    with pytest.raises(StorageError) as raised, engine.sa.connect() as conn:
        conn.execute(text("SELECT nothing FROM no_such_table"))
    assert storage.describe(engine.sa.url) in raised.value.message


def test_a_unique_key_race_reaches_the_code_that_expects_it(engine: Engine) -> None:
    """The engine lets a duplicate key through as SQLAlchemy's IntegrityError for code
    that catches a race on a key; storage_errors maps it where nothing expects it."""
    duplicate = text("INSERT INTO flow_version SELECT * FROM flow_version")
    engine.open_case(reporter=SANJO, title="障害")  # registers the flow's version
    with pytest.raises(sa_exc.IntegrityError), engine.sa.begin() as conn:
        conn.execute(duplicate)
    with (
        pytest.raises(StorageError, match="refused the change"),
        storage.storage_errors("db"),
        engine.sa.begin() as conn,
    ):
        conn.execute(duplicate)


# ---------------------------------------------------------------- damaged files


@pytest.fixture(params=list(DAMAGES))
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A file named as the database that is not one (see DAMAGES)."""
    path = tmp_path / "irflow.db"
    DAMAGES[request.param](path)
    return path


def test_a_damaged_file_names_itself_and_the_way_out(damaged: Path) -> None:
    """Reading, verifying, writing and initialising a damaged file each raise
    DatabaseCorrupt naming the file and the fix, and leave the file as it was."""
    before = snapshot(damaged.parent)
    calls = {
        "cases": lambda e: e.cases(viewer=SYSTEM),
        "verify": lambda e: e.verify(viewer=SYSTEM),
        "case": lambda e: e.case(1, viewer=SYSTEM),
        "open_case": lambda e: e.open_case(reporter=SANJO, title="障害"),
        "init": lambda e: e.init(),
    }
    for name, call in calls.items():
        with Engine(f"sqlite:///{damaged}") as engine, pytest.raises(DatabaseCorrupt) as raised:
            call(engine)
        assert raised.value.message.startswith(f"{damaged} is not an irflow database ("), name
        assert raised.value.message.endswith("restore it from a backup or point --db elsewhere")
        assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
    assert snapshot(damaged.parent) == before


# ---------------------------------------------------------------- a full disk


def test_a_full_disk_refuses_the_change_and_writes_none_of_it(tmp_path: Path) -> None:
    """When the disk fills up, the command that needs the room raises DatabaseFull
    naming the file; the cases before it are intact and it left nothing behind."""
    path = irflow_file(tmp_path / "irflow.db")
    with disk_full(), Engine(f"sqlite:///{path}", clock=MovableClock(START)) as engine:
        opened, full = _open_until_full(engine)
        assert full.message.startswith(f"{path} has no room left (database or disk is full); ")
        assert len(engine.cases(viewer=SYSTEM)) == 1 + opened
    with Engine(f"sqlite:///{path}") as engine:
        assert [c.id for c in engine.cases(viewer=SYSTEM)] == list(range(1, opened + 2))
        assert all(report.ok for report in engine.verify(viewer=SYSTEM))


def _open_until_full(engine: Engine) -> tuple[int, DatabaseFull]:
    """Open cases until the disk is full: how many opened, and the error."""
    for opened in range(500):
        try:
            engine.open_case(reporter=SANJO, title="障害" * 200)
        except DatabaseFull as full:
            return opened, full
    pytest.fail("the disk never filled up")


# ---------------------------------------------------------------- read-only copies


@pytest.fixture
def original(tmp_path: Path) -> Path:
    return irflow_file(tmp_path / "original" / "irflow.db", cases=2)


def _copy(original: Path, folder: Path, *suffixes: str) -> Path:
    folder.mkdir()
    for suffix in ("", *suffixes):
        shutil.copy(f"{original}{suffix}", folder / f"irflow.db{suffix}")
    return folder / "irflow.db"


def _reads_and_refuses_writes(path: Path, *, cases: int = 2) -> None:
    before = snapshot(path.parent)
    with Engine(f"sqlite:///{path}", clock=MovableClock(START)) as engine:
        assert [c.id for c in engine.cases(viewer=SYSTEM)] == list(range(1, cases + 1))
        assert engine.case(1, viewer=SYSTEM).title == "障害 1"
        assert [r.ok for r in engine.verify(viewer=SYSTEM)] == [True] * cases
        assert engine.search_organisations("三条")
        assert engine.init().changed is False  # an up-to-date copy needs no write
        for write in (
            lambda: engine.open_case(reporter=SANJO, title="障害"),
            lambda: engine.advance(1, "detect_anomaly", actor=SANJO),
        ):
            with pytest.raises(DatabaseReadOnly) as raised:
                write()
            assert raised.value.message.startswith(f"{path} is read-only (attempt to write")
        assert engine.case(1, viewer=SYSTEM).version == 1
    assert snapshot(path.parent) == before


def test_a_copy_in_a_read_only_folder_is_read_and_never_written(
    original: Path, tmp_path: Path
) -> None:
    """A `cp` copy of a database closed cleanly, file and folder read-only (no -shm can
    be made beside it): every read and verify work; writes raise DatabaseReadOnly."""
    path = _copy(original, tmp_path / "copy")
    with read_only(path, path.parent):
        _reads_and_refuses_writes(path)


def test_a_read_only_file_in_a_writable_folder_is_read(original: Path, tmp_path: Path) -> None:
    """A read-only file whose folder may be written: read through the write-ahead log's
    index made beside it, never written."""
    path = _copy(original, tmp_path / "copy")
    before = path.read_bytes()
    with read_only(path), Engine(f"sqlite:///{path}") as engine:
        assert len(engine.cases(viewer=SYSTEM)) == 2
        with pytest.raises(DatabaseReadOnly):
            engine.open_case(reporter=SANJO, title="障害")
        assert len(engine.cases(viewer=SYSTEM)) == 2
    assert path.read_bytes() == before


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Path]:
    """A database held open by a writer, its latest case still in the -wal file only."""
    path = irflow_file(tmp_path / "live" / "irflow.db", cases=1)
    with Engine(f"sqlite:///{path}", clock=MovableClock(START)) as writer:
        writer.open_case(reporter=SANJO, title="障害 2")
        assert Path(f"{path}-wal").stat().st_size > 0
        yield path


def test_a_copy_with_its_log_shows_what_the_log_holds(live: Path, tmp_path: Path) -> None:
    """A read-only copy of a database in use, with its -wal and -shm files: the cases
    only the log holds are read too."""
    path = _copy(live, tmp_path / "copy", "-wal", "-shm")
    sidecars = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    with read_only(path, *sidecars, path.parent):
        _reads_and_refuses_writes(path)


def test_a_copy_missing_its_logs_index_says_what_to_copy(live: Path, tmp_path: Path) -> None:
    """A read-only copy with a -wal but no -shm cannot be read as it is (an immutable
    open would miss the log): DatabaseReadOnly says what to copy where."""
    path = _copy(live, tmp_path / "copy", "-wal")
    with (
        read_only(path, Path(f"{path}-wal"), path.parent),
        Engine(f"sqlite:///{path}") as engine,
        pytest.raises(DatabaseReadOnly) as raised,
    ):
        engine.cases(viewer=SYSTEM)
    assert raised.value.message == (
        f"{path} is read-only and its write-ahead log {path}-wal cannot be read without "
        f"{path}-shm, which its folder may not hold; copy the database with its -wal file "
        "into a writable folder"
    )


# ---------------------------------------------------------------- PostgreSQL


def test_a_lost_connection_is_named_and_running_again_works(
    admin: psycopg.Connection[Any],
) -> None:
    """The server ends irflow's connections (an administrator, a restart): a read on the
    ledger, a read on a session and a write each raise DatabaseUnavailable naming the
    URL; nothing is written, and the same call run again works on a new connection."""
    base = pg_base_url()
    assert base is not None
    attempts: dict[str, Callable[[Engine], object]] = {
        "a read on the ledger": lambda engine: engine.case(1, viewer=SYSTEM),
        "a read on a session": lambda engine: engine.outbox(),
        "a write": lambda engine: engine.advance(1, "detect_anomaly", actor=SANJO),
    }
    with pg_schema(base, "irflow_lost") as schema_url:
        url, name = named_url(schema_url)
        where = storage.describe(make_engine(url).url)
        with Engine(url, clock=MovableClock(START)) as engine:
            engine.init()
            engine.open_case(reporter=SANJO, title="障害")
        for what, attempt in attempts.items():
            with Engine(url, clock=MovableClock(START)) as engine:
                engine.case(1, viewer=SYSTEM), engine.outbox()  # both kinds of connection are open
                assert terminate(admin, name=name) == 2
                with pytest.raises(DatabaseUnavailable) as raised:
                    attempt(engine)
                message = raised.value.message
                assert message.startswith(f"{where} lost its connection ("), what
                assert message.endswith("; check the server and run the command again"), what
                assert isinstance(raised.value.__cause__, psycopg.OperationalError), what
                # Every kind of connection is opened again, not just the one that failed.
                assert engine.case(1, viewer=SYSTEM).version == 1, what
                assert engine.outbox() == [], what
                assert len(engine.timeline(1, viewer=SYSTEM)) == 1, what
                attempt(engine)
        with Engine(url) as engine:
            assert engine.case(1, viewer=SYSTEM).version == 2  # the write, run again


def test_a_server_that_is_not_there_is_named() -> None:
    """No server at the URL: DatabaseUnavailable says to check the server and the URL."""
    with (
        Engine("postgresql://irflow@127.0.0.1:1/irflow") as engine,
        pytest.raises(DatabaseUnavailable) as raised,
    ):
        engine.cases(viewer=SYSTEM)
    assert raised.value.message.startswith("cannot connect to postgresql://irflow@127.0.0.1:1/")
