"""The hot path: reading a case row and writing one command's change, on the bare driver.

Every command that changes a case goes through ``Ledger.apply``: one transaction
with a guarded UPDATE of the case row (the optimistic version check) and the
INSERT of its timeline event. Statements are prebuilt strings run on the DBAPI
connection: measured here, the ORM costs 10-20x the bare driver on this path
(bench/advance.py). Everything that is not on this path uses SQLModel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine as SAEngine

from irflow.engine.connections import Checkout, ThreadConnections

_CASE_COLUMNS = (
    "id, flow, flow_version, title, kinds, flags, state, version, reporter_id, "
    "coordinator_id, operator_id, steps_done, last_seq, last_hash, chain, chain_at"
)
_CLOSED = "closed"  # irflow.engine.flow.CLOSED; this module imports no flow code
_EVENT_COLUMNS = (
    "case_id, seq, at, actor_id, action, step, from_state, to_state, note, payload, prev_hash, "
    "hash, seal"
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
    chain: str = ""
    """A chain flow's links, comma-separated organisation ids, the opener first."""
    chain_at: int = 0
    """The link that holds the case now."""
    last_at: datetime | None = None
    """When the case's latest event happened: no command may be dated before it."""


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
    seal: str | None = None
    """The keyed MAC over ``hash`` (``timeline.seal``), when an audit key was set."""


@dataclass(slots=True)
class DeadlineRecord:
    case_id: int
    step: str
    rung: int
    action: str
    opened_at: datetime
    deadline_at: datetime
    due_at: datetime


@dataclass(slots=True)
class OutboxRecord:
    id: str
    case_id: int | None
    event_seq: int | None
    channel: str
    kind: str
    template: str
    context: str
    recipients: str
    sender_id: str | None
    category: str | None
    created_at: datetime


@dataclass(slots=True)
class Effects:
    """What a command writes besides the case row and its event, in the same transaction."""

    clear_steps: list[str] = field(default_factory=list)
    """Steps done by the command: their deadline rows go."""
    deadlines: list[DeadlineRecord] = field(default_factory=list)
    """Rungs of the steps the command opened."""
    outbox: list[OutboxRecord] = field(default_factory=list)
    fired: tuple[str, int] | None = None
    """(step, rung) that this command fires: marked fired, exactly once."""


Then = Callable[[Any, int], None]
"""A read a command makes in its own transaction once its writes are done, before the
commit (the connection, the case id): what the command's result shows."""


class Ledger:
    """Prebuilt SQL for the commands that change cases, per database dialect."""

    def __init__(self, engine: SAEngine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.connections = ThreadConnections(engine)
        self._moments: dict[datetime, Any] = {}
        p = "?" if self.sqlite else "%s"
        self._select = (
            f"SELECT {_CASE_COLUMNS}, (SELECT e.at FROM timeline_event e WHERE e.case_id = c.id "
            f"AND e.seq = c.last_seq) FROM irflow_case c WHERE c.id = {p}"
        )
        self._update = (
            f"UPDATE irflow_case SET state = {p}, version = {p}, flags = {p}, "
            f"steps_done = {p}, coordinator_id = {p}, last_seq = {p}, last_hash = {p}, "
            f"chain = {p}, chain_at = {p}, closed_at = {p} WHERE id = {p} AND version = {p}"
        )
        self._insert_event = (
            f"INSERT INTO timeline_event ({_EVENT_COLUMNS}) VALUES ({', '.join([p] * 13)})"
        )
        self._insert_case = (
            "INSERT INTO irflow_case (flow, flow_version, title, kinds, flags, state, version, "
            "reporter_id, coordinator_id, operator_id, steps_done, opened_at, closed_at, "
            f"last_seq, last_hash, chain, chain_at) VALUES ({', '.join([p] * 17)}) RETURNING id"
        )
        self._seal = f"UPDATE irflow_case SET last_seq = {p}, last_hash = {p} WHERE id = {p}"
        self._clear_deadlines = f"DELETE FROM deadline WHERE case_id = {p} AND step = {p}"
        self._insert_deadline = (
            "INSERT INTO deadline (case_id, step, rung, action, opened_at, deadline_at, due_at, "
            f"fired_at) VALUES ({', '.join([p] * 7)}, NULL)"
        )
        self._mark_fired = (
            f"UPDATE deadline SET fired_at = {p} WHERE case_id = {p} AND step = {p} "
            f"AND rung = {p} AND fired_at IS NULL"
        )
        self._insert_outbox = (
            "INSERT INTO outbox (id, case_id, event_seq, channel, kind, template, context, "
            "recipients, sender_id, category, status, attempts, next_attempt_at, created_at) "
            f"VALUES ({', '.join([p] * 10)}, 'queued', 0, {p}, {p})"
        )
        # On PostgreSQL the claim locks the rung AND its case row, skipping both when
        # either is taken: a command holding the case row (about to delete the rung) is
        # never deadlocked against a sweep, and while one sweeper fires a case's rung no
        # other fires that case's later rungs ahead of it.
        # Reads for showing a case, on the bare driver too: `irflow case show` need not
        # build the ORM's mappers and statement caches for one look.
        self.reads = {
            "case": f"SELECT {_CASE_COLUMNS}, opened_at, closed_at FROM irflow_case WHERE id = {p}",
            "events": f"SELECT {_EVENT_COLUMNS} FROM timeline_event WHERE case_id = {p} "
            "ORDER BY seq",
            "deadlines": "SELECT step, rung, action, opened_at, deadline_at, due_at, fired_at "
            f"FROM deadline WHERE case_id = {p} ORDER BY due_at, step, rung",
            "organisations": "SELECT id, name, type, tier, prefecture, code, competent_ministry, "
            "daytime_phone, emergency_phone, mail, note FROM organisation",
            "flow_source": f"SELECT source FROM flow_version WHERE name = {p} AND version = {p}",
            "flow_sources": "SELECT name, version FROM flow_version ORDER BY name, version",
            "case_ids": "SELECT id FROM irflow_case ORDER BY id",
            # verify's batches: the rows with ids in (after, upto], and all their events.
            "verify_cases": f"SELECT {_CASE_COLUMNS} FROM irflow_case WHERE id > {p} "
            f"AND id <= {p} ORDER BY id LIMIT {p}",
            "verify_events": f"SELECT {_EVENT_COLUMNS} FROM timeline_event WHERE case_id > {p} "
            f"AND case_id <= {p} ORDER BY case_id, seq",
            "open_by_version": "SELECT flow, flow_version, COUNT(*) FROM irflow_case "
            f"WHERE state <> '{_CLOSED}' GROUP BY flow, flow_version",
        }
        skip_locked = "" if self.sqlite else " FOR UPDATE OF d, c SKIP LOCKED"
        self._claim_due = (
            "SELECT d.case_id, d.step, d.rung, d.action, d.opened_at, d.deadline_at, d.due_at "
            "FROM deadline d JOIN irflow_case c ON c.id = d.case_id "
            f"WHERE d.fired_at IS NULL AND d.due_at <= {p} "
            f"ORDER BY d.due_at, d.case_id, d.step, d.rung LIMIT 1{skip_locked}"
        )
        # Past the first ``n`` due rungs: those this sweep could not fire (see escalation).
        self._claim_due_after = self._claim_due.replace("LIMIT 1", f"LIMIT 1 OFFSET {p}")

    def moment(self, at: datetime) -> Any:
        """A moment as the driver should receive it (SQLAlchemy's SQLite text on SQLite)."""
        # A command writes the same few moments many times (event, rungs, messages).
        cached = self._moments.get(at)
        if cached is not None:
            return cached
        utc = at.astimezone(UTC)
        if self.sqlite:
            # The text SQLAlchemy's SQLite DateTime stores; isoformat is 4x strftime, and
            # slicing off its "+00:00" 0.5 µs cheaper than replace(tzinfo=None) first.
            value: Any = utc.isoformat(" ", "microseconds")[:26]
        else:
            value = utc
        if len(self._moments) > 256:
            self._moments.clear()
        self._moments[at] = value
        return value

    def connection(self) -> Checkout:
        """This thread's DBAPI connection; driver errors become ``StorageError``
        (``ThreadConnections``)."""
        return Checkout(self.connections)

    def _cursor(self, conn: Any) -> Any:
        """The cursor for ``conn``: this thread's own connection keeps one; any other
        connection (a caller's) gets a new one."""
        local = self.connections.local
        if conn is getattr(local, "driver", None):
            return local.cursor
        return conn.cursor()

    def close(self) -> None:
        """Give every thread's connection back (``Engine.close``)."""
        self.connections.close()

    def read(self, name: str, *params: Any) -> list[tuple[Any, ...]]:
        """The rows of one of the prebuilt reads (``self.reads``)."""
        with self.connection() as conn:
            return self.read_in(conn, name, *params)

    def read_in(self, conn: Any, name: str, *params: Any) -> list[tuple[Any, ...]]:
        """A prebuilt read inside the caller's transaction (a command reading more than
        its case row)."""
        cur = self._cursor(conn)
        cur.execute(self.reads[name], params)
        return [tuple(r) for r in cur.fetchall()]

    def load(self, conn: Any, case_id: int) -> CaseRecord | None:
        """The case row. On PostgreSQL the read opens the transaction the write will use
        (one round trip fewer than ending it); the guarded UPDATE still decides."""
        cur = self._cursor(conn)
        cur.execute(self._select, (case_id,))
        row = cur.fetchone()
        if row is None:
            return None
        case = CaseRecord(*row[:-1])
        case.last_at = self.read_moment(row[-1]) if row[-1] is not None else None
        return case

    def open(
        self,
        conn: Any,
        case: CaseRecord,
        opened_at: datetime,
        first_event: Callable[[int], EventRecord],
        effects: Callable[[int, EventRecord], Effects] | None = None,
        then: Then | None = None,
    ) -> int:
        """Insert a new case and its first event in one transaction; return the case id.
        ``then`` reads in the transaction, after the writes, before the commit."""
        cur = self._cursor(conn)
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
                case.chain,
                case.chain_at,
            ),
        )
        case_id = int(cur.fetchone()[0])
        event = first_event(case_id)
        self.insert_event(cur, event)
        cur.execute(self._seal, (event.seq, event.hash, case_id))
        if effects is not None:
            self._write_effects(cur, case_id, event, effects(case_id, event))
        if then is not None:
            then(conn, case_id)
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
        effects: Effects | None = None,
        then: Then | None = None,
    ) -> bool:
        """Write a command's change in one transaction; False if the version moved on
        (or the rung it fires was fired already), and then nothing is written. ``then``
        reads in the transaction, after the writes, before the commit."""
        cur = self._cursor(conn)
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
                case.chain,
                case.chain_at,
                self.moment(closed_at) if closed_at else None,
                case.id,
                expected_version,
            ),
        )
        if cur.rowcount != 1:
            conn.rollback()
            return False
        self.insert_event(cur, event)
        if effects is not None and not self._write_effects(cur, case.id, event, effects):
            conn.rollback()
            return False
        if then is not None:
            then(conn, case.id)
        conn.commit()
        return True

    def _write_effects(self, cur: Any, case_id: int, event: EventRecord, fx: Effects) -> bool:
        if fx.fired is not None:
            step, rung = fx.fired
            cur.execute(self._mark_fired, (self.moment(event.at), case_id, step, rung))
            if cur.rowcount != 1:
                return False
        for step in fx.clear_steps:
            cur.execute(self._clear_deadlines, (case_id, step))
        if fx.deadlines:
            cur.executemany(
                self._insert_deadline,
                [
                    (
                        d.case_id,
                        d.step,
                        d.rung,
                        d.action,
                        self.moment(d.opened_at),
                        self.moment(d.deadline_at),
                        self.moment(d.due_at),
                    )
                    for d in fx.deadlines
                ],
            )
        if fx.outbox:
            cur.executemany(
                self._insert_outbox,
                [
                    (
                        o.id,
                        o.case_id,
                        o.event_seq,
                        o.channel,
                        o.kind,
                        o.template,
                        o.context,
                        o.recipients,
                        o.sender_id,
                        o.category,
                        self.moment(o.created_at),
                        self.moment(o.created_at),
                    )
                    for o in fx.outbox
                ],
            )
        return True

    def begin_sweep(self, conn: Any) -> None:
        """Start the transaction a sweep claims and fires one rung in.

        On SQLite the write lock is taken at once (one sweeper at a time); on
        PostgreSQL the claim's ``FOR UPDATE SKIP LOCKED`` lets sweepers work side by side.
        """
        if self.sqlite:
            self._cursor(conn).execute("BEGIN IMMEDIATE")

    def claim_due(self, conn: Any, now: datetime, *, skip: int = 0) -> DeadlineRecord | None:
        """The earliest unfired rung due by ``now`` (after ``skip`` of them), locked for
        this transaction."""
        cur = self._cursor(conn)
        if skip:
            cur.execute(self._claim_due_after, (self.moment(now), skip))
        else:
            cur.execute(self._claim_due, (self.moment(now),))
        row = cur.fetchone()
        if row is None:
            return None
        case_id, step, rung, action, opened, deadline, due = row
        return DeadlineRecord(
            case_id,
            step,
            rung,
            action,
            self.read_moment(opened),
            self.read_moment(deadline),
            self.read_moment(due),
        )

    def read_moment(self, value: Any) -> datetime:
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        moment: datetime = value
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

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
                ev.seal,
            ),
        )
