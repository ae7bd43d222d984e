"""Each thread's own DBAPI connection for the ledger's hot path, and what its failures do.

Each thread keeps one connection for the hot path: checking one out of the pool
for every command cost a tenth of a step (bench/advance.py). Whatever a block
leaves uncommitted is rolled back. SQLAlchemy's error listener does not see the
bare driver, so a driver error is translated here (``storage.translate``); the
connection that failed is dropped and the next command opens a new one.

A lost connection usually means the others are lost too (the server restarted,
an administrator ended them): when one is found lost, on the bare driver or by
SQLAlchemy, every thread's connection and the pool's idle ones are opened again,
so that running the command again works.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from sqlalchemy import Engine as SAEngine
from sqlalchemy import event
from sqlalchemy.exc import TimeoutError as PoolTimeout

from irflow.engine import storage
from irflow.errors import StorageError


class Checkout:
    """``with ledger.connection() as conn``; a class, where contextlib's generator
    machinery cost 3 µs a command (bench/advance.py)."""

    __slots__ = ("conn", "connections", "driver")

    def __init__(self, connections: ThreadConnections) -> None:
        self.connections = connections
        self.conn: Any = None
        self.driver: Any = None

    def __enter__(self) -> Any:
        connections = self.connections
        local = connections.local
        conn = getattr(local, "conn", None)
        if conn is not None and local.lost != connections.lost:
            # Another connection of the engine was lost since this one opened: the
            # server may have restarted, so this one is not trusted either.
            connections.discard(conn)
            conn = None
        if conn is None:
            try:
                conn = connections.engine.raw_connection()
            except connections.checkout_errors as exc:
                raise connections.storage_error(exc, connecting=True) from exc
            local.conn, local.lost = conn, connections.lost
            # The driver's own connection: the pool's proxy finds commit and rollback
            # through __getattr__, and wraps cursor() (2.5 µs a command).
            local.driver = conn.dbapi_connection
            # One cursor for the connection's life: a new psycopg cursor copies the
            # adapter map, 5-20 µs a statement (bench/advance.py).
            local.cursor = local.driver.cursor()
            with connections.lock:
                connections.reclaim()
                connections.opened.append(conn)
                connections.owners[id(conn)] = threading.current_thread()
        self.conn = conn
        self.driver = local.driver
        return self.driver

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        connections = self.connections
        if exc is not None and isinstance(exc, connections.driver_errors):
            driver_error: Any = exc  # one of the driver's errors (checked above)
            lost = connections.engine.dialect.is_disconnect(driver_error, self.driver, None)
            connections.discard(self.conn)
            if lost:
                connections.connection_lost()
                connections.engine.dispose()  # the pool's idle connections are gone too
            raise connections.storage_error(exc) from exc
        try:
            self.driver.rollback()  # a no-op after a commit; ends a read-only transaction
        except connections.driver_errors as failed:
            connections.discard(self.conn)
            if exc is None:
                raise connections.storage_error(failed) from failed
            # else the block's own error goes on (the connection is gone either way)


class ThreadConnections:
    """The DBAPI connection of each thread that runs commands on one engine."""

    def __init__(self, engine: SAEngine) -> None:
        self.engine = engine
        self.where = storage.describe(engine.url)
        """The file or URL that storage errors name."""
        self.driver_errors: tuple[type[BaseException], ...] = (engine.dialect.loaded_dbapi.Error,)
        self.checkout_errors = (*self.driver_errors, PoolTimeout)
        self.lost = 0
        """How many connections of the engine were found lost (SQLAlchemy invalidates
        them): each thread's connection opened before the latest is opened again."""
        event.listen(engine, "invalidate", self.connection_lost)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.opened: list[Any] = []
        self.owners: dict[int, threading.Thread] = {}
        """The thread each opened connection belongs to."""

    def reclaim(self) -> None:
        """Give back to the pool the connections of threads that have ended (a
        service's worker threads end when idle); called under ``lock``."""
        for conn in [c for c in self.opened if not self.owners[id(c)].is_alive()]:
            self.opened.remove(conn)
            del self.owners[id(conn)]
            with contextlib.suppress(*self.driver_errors):
                conn.close()

    def discard(self, conn: Any) -> None:
        """Drop this thread's connection ``conn`` (it failed, or is not trusted)."""
        self.local.conn = self.local.driver = self.local.cursor = None
        with self.lock:
            if conn in self.opened:
                self.opened.remove(conn)
                self.owners.pop(id(conn), None)
        try:
            conn.rollback()
            conn.close()
        except self.driver_errors:
            conn.invalidate()

    def close(self) -> None:
        """Give every thread's connection back."""
        with self.lock:
            opened, self.opened = self.opened, []
            self.owners.clear()
        for conn in opened:
            with contextlib.suppress(*self.driver_errors):
                conn.close()
        self.local = threading.local()

    def connection_lost(self, *_event: object) -> None:
        self.lost += 1

    def storage_error(self, exc: BaseException, *, connecting: bool = False) -> StorageError:
        """The driver's error as a ``StorageError`` naming this database, caused by it."""
        error = storage.translate(exc, self.where, connecting=connecting)
        assert error is not None  # only driver and pool errors are passed here
        return error
