"""The hot path: reading a case row and writing one command's change, on the bare driver.

Every command that changes a case goes through ``Ledger.apply``: one transaction
with a guarded UPDATE of the case row (the optimistic version check) and the
INSERT of its timeline event. Statements are prebuilt strings run on the DBAPI
connection: measured here, the ORM costs 10-20x the bare driver on this path
(bench/advance.py). Everything that is not on this path uses SQLModel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine as SAEngine

from irflow.errors import StorageError

_CASE_COLUMNS = (
    "id, flow, flow_version, title, kinds, flags, state, version, reporter_id, "
    "coordinator_id, operator_id, steps_done, last_seq, last_hash"
)
_EVENT_COLUMNS = (
    "case_id, seq, at, actor_id, action, step, from_state, to_state, note, payload, prev_hash, hash"
)


@dataclass(slots=True)
class CaseRecord:
    """A case row as the hot path reads it."""

    id: int
    flow: str
    flow_version: int
    title: str
    kinds: str
    flags: str
    state: str
    version: int
    reporter_id: str
    coordinator_id: str
    operator_id: str
    steps_done: str
    last_seq: int
    last_hash: str


@dataclass(slots=True)
class EventRecord:
    case_id: int
    seq: int
    at: datetime
    actor_id: str | None
    action: str
    step: str | None
    from_state: str | None
    to_state: str | None
    note: str | None
    payload: str
    prev_hash: str
    hash: str


class Ledger:
    """Prebuilt SQL for the commands that change cases, per database dialect."""

    def __init__(self, engine: SAEngine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        p = "?" if self.sqlite else "%s"
        self._select = f"SELECT {_CASE_COLUMNS} FROM irflow_case WHERE id = {p}"
        self._update = (
            f"UPDATE irflow_case SET state = {p}, version = {p}, flags = {p}, "
            f"steps_done = {p}, coordinator_id = {p}, last_seq = {p}, last_hash = {p}, "
            f"closed_at = {p} WHERE id = {p} AND version = {p}"
        )
        self._insert_event = (
            f"INSERT INTO timeline_event ({_EVENT_COLUMNS}) VALUES ({', '.join([p] * 12)})"
        )
        self._insert_case = (
            "INSERT INTO irflow_case (flow, flow_version, title, kinds, flags, state, version, "
            "reporter_id, coordinator_id, operator_id, steps_done, opened_at, closed_at, "
            f"last_seq, last_hash) VALUES ({', '.join([p] * 15)}) RETURNING id"
        )
        self._seal = f"UPDATE irflow_case SET last_seq = {p}, last_hash = {p} WHERE id = {p}"

    def moment(self, at: datetime) -> Any:
        """A moment as the driver should receive it (SQLAlchemy's SQLite text on SQLite)."""
        utc = at.astimezone(UTC)
        if self.sqlite:
            return utc.strftime("%Y-%m-%d %H:%M:%S.%f")
        return utc

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled DBAPI connection; driver errors become ``StorageError``."""
        conn = self.engine.raw_connection()
        try:
            yield conn
        except self._driver_errors() as exc:
            conn.rollback()
            raise StorageError(f"the database refused the change: {exc}") from None
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        return (self.engine.dialect.loaded_dbapi.Error,)

    def load(self, conn: Any, case_id: int) -> CaseRecord | None:
        cur = conn.cursor()
        cur.execute(self._select, (case_id,))
        row = cur.fetchone()
        cur.close()
        if not self.sqlite:
            conn.rollback()  # end the read-only transaction psycopg opened for the SELECT
        return CaseRecord(*row) if row else None

    def open(
        self,
        conn: Any,
        case: CaseRecord,
        opened_at: datetime,
        first_event: Callable[[int], EventRecord],
    ) -> int:
        """Insert a new case and its first event in one transaction; return the case id."""
        cur = conn.cursor()
        cur.execute(
            self._insert_case,
            (
                case.flow,
                case.flow_version,
                case.title,
                case.kinds,
                case.flags,
                case.state,
                case.version,
                case.reporter_id,
                case.coordinator_id,
                case.operator_id,
                case.steps_done,
                self.moment(opened_at),
                None,
                0,
                "",
            ),
        )
        case_id = int(cur.fetchone()[0])
        event = first_event(case_id)
        self.insert_event(cur, event)
        cur.execute(self._seal, (event.seq, event.hash, case_id))
        cur.close()
        conn.commit()
        return case_id

    def apply(
        self,
        conn: Any,
        case: CaseRecord,
        *,
        expected_version: int,
        closed_at: datetime | None,
        event: EventRecord,
    ) -> bool:
        """Write a command's change in one transaction; False if the version moved on."""
        cur = conn.cursor()
        cur.execute(
            self._update,
            (
                case.state,
                case.version,
                case.flags,
                case.steps_done,
                case.coordinator_id,
                case.last_seq,
                case.last_hash,
                self.moment(closed_at) if closed_at else None,
                case.id,
                expected_version,
            ),
        )
        if cur.rowcount != 1:
            cur.close()
            conn.rollback()
            return False
        self.insert_event(cur, event)
        cur.close()
        conn.commit()
        return True

    def insert_event(self, cur: Any, ev: EventRecord) -> None:
        cur.execute(
            self._insert_event,
            (
                ev.case_id,
                ev.seq,
                self.moment(ev.at),
                ev.actor_id,
                ev.action,
                ev.step,
                ev.from_state,
                ev.to_state,
                ev.note,
                ev.payload,
                ev.prev_hash,
                ev.hash,
            ),
        )
