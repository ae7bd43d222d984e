"""Broken storage, made for real: damaged files, a full disk, read-only copies, lost
connections. Shared by the engine's and the command line's storage tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, make_url
from sqlalchemy.pool import Pool

from irflow.engine.database import database_url
from irflow.engine.facade import Engine
from irflow.testing import MovableClock
from tests.conftest import START, pg_base_url

SANJO = "sanjo"


def irflow_file(path: Path, *, cases: int = 1) -> Path:
    """A real irflow database at ``path`` with ``cases`` cases, closed cleanly (its
    write-ahead log checkpointed into the file and removed, as after any command)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with Engine(f"sqlite:///{path}", clock=MovableClock(START)) as engine:
        engine.init()
        for n in range(cases):
            engine.open_case(reporter=SANJO, title=f"障害 {n + 1}")
    assert not Path(f"{path}-wal").exists()
    return path


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(64 * 1024))


def _truncated(path: Path) -> None:
    irflow_file(path, cases=3)
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)


def _text_file(path: Path) -> None:
    path.write_text("case,title\n1,障害\n" * 200, encoding="utf-8")


DAMAGES: dict[str, Callable[[Path], None]] = {
    "random-bytes": _random_bytes,
    "truncated": _truncated,
    "text-file": _text_file,
}
"""Ways a file named as the database is not one: corrupt, cut in half, a CSV file."""


def snapshot(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` and a digest of its bytes: equal before and after
    means nothing was written (nor a -wal or -shm file created)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


@contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files and folders unwritable for this very process, for real.

    chmod does that for a user, but not for root (tests here run as root), whom the
    kernel lets write anyway; for root the immutable attribute (``chattr +i``) stops
    every write, its own too. Skips where neither can be had (root on a file system
    without the attribute).
    """
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in paths}
    for p in paths:
        p.chmod(0o555 if p.is_dir() else 0o444)
    immutable = os.geteuid() == 0 and shutil.which("chattr") is not None
    if immutable:
        immutable = _chattr("+i", paths)
    try:
        writable = [str(p) for p in paths if os.access(p, os.W_OK)]
        if writable:
            pytest.skip(f"cannot make {', '.join(writable)} read-only here")
        yield
    finally:
        if immutable:
            _chattr("-i", paths)
        for p, mode in modes.items():
            p.chmod(mode)


def _chattr(flag: str, paths: tuple[Path, ...]) -> bool:
    done = subprocess.run(
        ["chattr", flag, *map(str, paths)], capture_output=True, check=False, timeout=30
    )
    return done.returncode == 0


@contextmanager
def disk_full() -> Iterator[None]:
    """Every SQLite connection opened meanwhile may not grow its file by one page.

    ``PRAGMA max_page_count`` (it cannot go below the file's size) makes SQLite fail
    a write that needs a new page with SQLITE_FULL, the code it gives when the disk
    is full; on a real full disk (a small tmpfs) the message is the same.
    """

    def limit(dbapi_connection: Any, _record: Any) -> None:
        if type(dbapi_connection).__module__ == "sqlite3":
            dbapi_connection.execute("PRAGMA max_page_count = 1")

    event.listen(Pool, "connect", limit)
    try:
        yield
    finally:
        event.remove(Pool, "connect", limit)


@pytest.fixture
def admin() -> Iterator[psycopg.Connection[Any]]:
    """A PostgreSQL connection of the tests' own, to end irflow's connections with."""
    base = pg_base_url()
    if base is None:
        pytest.skip("PostgreSQL tests are off; set IRFLOW_TEST_DATABASE_URL to run them")
    with psycopg.connect(base, autocommit=True) as conn:
        yield conn


def named_url(url: str) -> tuple[str, str]:
    """``url`` with a PostgreSQL application name of its own (to find its connections
    among those of tests running beside it), and that name."""
    name = f"irflow-test-{uuid.uuid4().hex[:12]}"
    named = make_url(database_url(url)).update_query_dict({"application_name": name})
    return named.render_as_string(hide_password=False), name


def terminate(admin: Any, *, name: str | None = None, pid: int | None = None) -> int:
    """End PostgreSQL server processes, as an administrator (or a crash) would: those of
    application ``name``, or the one ``pid``; wait until they are gone; return how many."""
    where, arg = ("application_name = %s", name) if pid is None else ("pid = %s", pid)
    ended = admin.execute(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {where}", (arg,)
    ).fetchall()
    deadline = time.monotonic() + 10
    while admin.execute(f"SELECT count(*) FROM pg_stat_activity WHERE {where}", (arg,)).fetchone()[
        0
    ]:
        assert time.monotonic() < deadline, "the server processes did not end"
        time.sleep(0.02)
    return len(ended)


@contextmanager
def connections_lost(admin: Any) -> Iterator[None]:
    """The server ends every PostgreSQL connection right after a command takes it from
    the pool, before its first statement: the connection is lost mid-session."""

    def end(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if type(dbapi_connection).__module__.startswith("psycopg"):
            terminate(admin, pid=dbapi_connection.info.backend_pid)

    event.listen(Pool, "checkout", end)
    try:
        yield
    finally:
        event.remove(Pool, "checkout", end)
