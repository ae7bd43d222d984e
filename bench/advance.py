"""Step completions per second: ``Engine.advance`` against the bare driver's floor.

    python bench/advance.py [--cases N] [--db URL] [--memory-cases M]

Opens N cases (reporter 三条市 ``sanjo``, coordinator 新潟県 ``pref-niigata``, operator
``mic-mynumber``) and drives each through the whole incident flow, each step done by
its tier's organisation, timing only the ``advance`` calls.

In the same run, the floor: the same rows written with the bare driver (``sqlite3`` or
``psycopg``) into the same tables (those of irflow's migrations that a step touches,
``deadline`` and ``outbox`` included, with their keys and indexes; checked) in
another file (SQLite) or schema (PostgreSQL), one transaction a step, with the same
statements, in the same order, and the same number of rows as the engine's:

- the guarded ``UPDATE irflow_case ... WHERE id = ? AND version = ?``;
- the ``INSERT`` of the step's hash-chained timeline event;
- the ``DELETE`` of the done step's ``deadline`` rows;
- one ``deadline`` row a rung of every step the command opened (``executemany``);
- the ``outbox`` rows of its notifications, one a notification and channel (with no
  notifier configured, the channel is the site alone: steps with ``reports_to`` or
  ``announce``; ``executemany``).

These are not written from a copy of the engine's logic that could drift: one
warm-up case is driven through the engine with its ledger's connection wrapped, so
that every statement and parameter of its transactions is recorded; the floor's
statements are rendered by irflow's own ``Ledger`` (its prebuilt SQL) from rows
computed with ``irflow.engine.effects`` (``deadlines_for``, ``Notices.for_step``) and
the engine's own event builder (``Recorder.event``), and the run stops unless the rendering
for the warm-up case (its id, title and moments) equals the recording, statement for
statement and value for value. Every floor case then gets the same statements with
its own id, moments and hashes. Only the transactions are timed: their values
(JSON, SHA-256, deadlines on the working-day calendar) are computed beforehand, and
that cost is printed beside the floor.

The engine must read a case before it writes it (its state, the steps done, the
version it checks, the hash it chains to). So the floor that the ratio uses reads it
too, with the engine's own ``SELECT`` of the case row: on PostgreSQL inside the step's
transaction (psycopg begins the transaction with it, as it does for the engine's
ledger, which reads and writes in one transaction: one round trip more than the
writes alone), on SQLite just before it (``sqlite3`` begins a transaction at the
first write, for the engine's connection as for the floor's). A second floor without
that ``SELECT``, the rows written and nothing else, is printed with its own ratio.
The three sides take turns case by case, so that a change in the machine's load hits
them alike.

Then the engine's memory growth while its database comes to hold M open cases
(default 100,000). ``Engine.open_case`` runs at about 2,000 a second on SQLite and
700 on PostgreSQL, and the engine keeps nothing per case; so the first
10,000 are opened with it (its rate and the RSS slope a case are printed), and above
11,000 all but the last 1,000 are bulk-inserted with the bare driver into the engine's
database, in the rows ``open_case`` writes (rendered as above), by a forked child so
that the bench's own garbage stays out of the figure; then the engine opens the last
1,000, completes the first step of 1,000 of the bulk-inserted ones, spread over them,
and verifies one of their chains. The figure is the RSS growth over all of it (about
20 s on SQLite, under a minute on PostgreSQL). The last line is the ratio of the
engine's rate to the floor's (``ratio: 0.64``). Aims (issue 2): ratio >= 0.6 on
SQLite, >= 0.8 on PostgreSQL, memory growth under 50 MB for 100,000 open cases.

On PostgreSQL, ``--db`` names a database this benchmark may clobber: it drops irflow's
tables there first, and uses the schema ``irflow_bench_floor`` for the floor.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import resource
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy.engine import make_url

from irflow.engine.database import database_url
from irflow.engine.effects import deadlines_for, open_steps
from irflow.engine.flow import CLOSED, CaseFacts, CaseModel, Flow
from irflow.engine.ledger import CaseRecord, Effects, EventRecord
from irflow.engine.rules import SYSTEM
from irflow.engine.timeline import GENESIS
from irflow.logs import configure

ACTORS = {"reporter": "sanjo", "coordinator": "pref-niigata", "operator": "mic-mynumber"}
"""Who does each tier's steps: 三条市, 新潟県 (its prefecture), MIC's My Number office."""

IRFLOW_TABLES = ("timeline_event", "irflow_case", "flow_version", "organisation", "alembic_version")
"""irflow's first tables; ``irflow_tables`` adds those of later migrations."""
FLOOR_SCHEMA = "irflow_bench_floor"
BLOCKS = 10
ENGINE_OPENS = 10_000
"""Memory part: cases opened with ``Engine.open_case`` before any are bulk-inserted."""
ENGINE_TOUCHES = 1_000
"""Memory part: cases the engine opens, and bulk cases it advances, after the bulk."""
BULK_BATCH = 2_000
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)
"""The pragmas irflow sets on every SQLite connection (irflow/engine/database.py)."""

# The floor's tables: irflow's migrations (0001 to 0003) for the tables a step touches,
# column for column, with the same keys, foreign keys and indexes. ``check_same_tables``
# stops the run if irflow's schema has moved on without this.
FLOOR_DDL = (
    """CREATE TABLE organisation (
        id VARCHAR NOT NULL PRIMARY KEY, name VARCHAR NOT NULL, type VARCHAR NOT NULL,
        tier VARCHAR NOT NULL, prefecture VARCHAR, code VARCHAR, competent_ministry VARCHAR,
        daytime_phone VARCHAR, emergency_phone VARCHAR, mail VARCHAR, note VARCHAR)""",
    "CREATE INDEX ix_organisation_name ON organisation (name)",
    "CREATE INDEX ix_organisation_code ON organisation (code)",
    """CREATE TABLE irflow_case (
        id {serial} NOT NULL PRIMARY KEY, flow VARCHAR NOT NULL,
        flow_version INTEGER NOT NULL, title VARCHAR NOT NULL, kinds VARCHAR NOT NULL,
        flags VARCHAR NOT NULL, state VARCHAR NOT NULL, version INTEGER NOT NULL,
        reporter_id VARCHAR NOT NULL REFERENCES organisation (id),
        coordinator_id VARCHAR NOT NULL REFERENCES organisation (id),
        operator_id VARCHAR NOT NULL REFERENCES organisation (id),
        steps_done TEXT NOT NULL, opened_at {moment} NOT NULL, closed_at {moment},
        last_seq INTEGER NOT NULL, last_hash VARCHAR NOT NULL,
        chain TEXT DEFAULT '' NOT NULL, chain_at INTEGER DEFAULT '0' NOT NULL)""",
    "CREATE INDEX ix_irflow_case_state ON irflow_case (state)",
    """CREATE TABLE timeline_event (
        case_id INTEGER NOT NULL REFERENCES irflow_case (id), seq INTEGER NOT NULL,
        at {moment} NOT NULL, actor_id VARCHAR, action VARCHAR NOT NULL, step VARCHAR,
        from_state VARCHAR, to_state VARCHAR, note TEXT, payload TEXT NOT NULL,
        prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL, seal VARCHAR,
        PRIMARY KEY (case_id, seq))""",
    """CREATE TABLE deadline (
        case_id INTEGER NOT NULL REFERENCES irflow_case (id), step VARCHAR NOT NULL,
        rung INTEGER NOT NULL, action VARCHAR NOT NULL, opened_at {moment} NOT NULL,
        deadline_at {moment} NOT NULL, due_at {moment} NOT NULL, fired_at {moment},
        PRIMARY KEY (case_id, step, rung))""",
    "CREATE INDEX ix_deadline_due ON deadline (fired_at, due_at)",
    """CREATE INDEX ix_deadline_unfired ON deadline (due_at, case_id, step, rung)
        WHERE fired_at IS NULL""",
    """CREATE TABLE outbox (
        id VARCHAR NOT NULL PRIMARY KEY, case_id INTEGER, event_seq INTEGER,
        channel VARCHAR NOT NULL, kind VARCHAR NOT NULL, template VARCHAR NOT NULL,
        context TEXT NOT NULL, recipients TEXT NOT NULL, sender_id VARCHAR,
        category VARCHAR, status VARCHAR NOT NULL, attempts INTEGER NOT NULL,
        next_attempt_at {moment} NOT NULL, lease_until {moment}, last_error TEXT,
        created_at {moment} NOT NULL, sent_at {moment})""",
    "CREATE INDEX ix_outbox_case_id ON outbox (case_id)",
    "CREATE INDEX ix_outbox_queue ON outbox (status, next_attempt_at)",
)
FLOOR_TABLES = ("organisation", "irflow_case", "timeline_event", "deadline", "outbox")
CASE_TABLES = ("timeline_event", "deadline", "outbox")
"""The tables whose rows of one case the engine's and the floor's sides must match."""


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True, slots=True)
class Move:
    """One step of a valid run: who does it, and the case's state before and after."""

    step: str
    actor: str
    before: str
    after: str


def valid_run(flow: Flow) -> list[Move]:
    """The steps of a default-kind case, each the first open required one, to closed."""
    facts = CaseFacts(kinds=frozenset({flow.spec.default_kind}), flags=frozenset(), done={})
    model = CaseModel(flow.states[0], facts)
    moves = []
    while model.state != CLOSED:
        step = next(
            s
            for s in flow.steps.values()
            if flow.is_required(s, facts) and flow.status(s, model.state, facts) == "open"
        )
        before = model.state
        facts.done[step.id] = [ACTORS[step.tier], ""]
        flow.settle(model)
        moves.append(Move(step.id, ACTORS[step.tier], before, model.state))
    return moves


def irflow_tables() -> list[str]:
    """Every table irflow's schema has, those that refer to others first."""
    from irflow.engine import tables  # its models declare the tables on SQLModel.metadata

    declared = [t.name for t in reversed(tables.SQLModel.metadata.sorted_tables)]
    return [*declared, *(t for t in IRFLOW_TABLES if t not in declared)]


def rss_bytes() -> int:
    """The process's resident set size now (its peak where /proc is missing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def mb(n: float) -> str:
    return f"{n / 2**20:+.1f} MB"


# --------------------------------------------------------------------------- statements

Op = tuple[bool, str, Any]
"""One driver call: (executemany?, SQL, parameters: a tuple, or a list of tuples)."""
Txn = list[Op]


class RecordingCursor:
    """A DBAPI cursor that records every statement, then hands it on (if it has one)."""

    def __init__(self, owner: Recorder, cursor: Any | None) -> None:
        self.owner = owner
        self.cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.owner.ops.append((False, sql, tuple(params)))
        if self.cursor is not None:
            self.cursor.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        self.owner.ops.append((True, sql, rows))
        if self.cursor is not None:
            self.cursor.executemany(sql, rows)

    @property
    def rowcount(self) -> int:
        return 1 if self.cursor is None else int(self.cursor.rowcount)

    def fetchone(self) -> Any:
        return (self.owner.returning,) if self.cursor is None else self.cursor.fetchone()

    def close(self) -> None:
        if self.cursor is not None:
            self.cursor.close()


class Recorder:
    """A DBAPI connection stand-in that records each transaction's statements.

    Around a real connection it hands everything on (the engine's warm-up case);
    alone it writes nothing, every UPDATE touches one row and ``RETURNING id`` gives
    ``returning`` (rendering the floor's statements through irflow's ``Ledger``).
    """

    def __init__(self, conn: Any | None = None, *, returning: int = 0) -> None:
        self.conn = conn
        self.returning = returning
        self.ops: Txn = []
        self.txns: list[Txn] = []
        self.rolled_back: list[Txn] = []

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self, None if self.conn is None else self.conn.cursor())

    def commit(self) -> None:
        if self.conn is not None:
            self.conn.commit()
        self.txns.append(self.ops)
        self.ops = []

    def rollback(self) -> None:
        if self.conn is not None:
            self.conn.rollback()
        if self.ops:
            self.rolled_back.append(self.ops)
            self.ops = []


def moment_of(ledger: Any, txn: Txn) -> datetime:
    """The moment of the event a recorded transaction inserts (its ``at`` column)."""
    for _many, sql, params in txn:
        if sql.startswith("INSERT INTO timeline_event"):
            moment: datetime = ledger.read_moment(params[2])
            return moment
    sys.exit("the engine's transaction inserted no timeline event: " + repr(txn))


def rows_written(txns: Sequence[Txn]) -> str:
    """What a case's step transactions write, e.g. ``15 UPDATE irflow_case, ...``."""
    calls: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    for txn in txns:
        for many, sql, params in txn:
            words = sql.split()
            what = " ".join(words[:2] if words[0] == "UPDATE" else [words[0], words[2]])
            calls[what] += 1
            rows[what] += len(params) if many else 1
    return ", ".join(
        f"{rows[w]} {w}" + (f" rows in {calls[w]} calls" if rows[w] != calls[w] else "")
        for w in calls
        if not w.startswith("SELECT")
    )


# --------------------------------------------------------------------------- the rows


class Planner:
    """Computes the rows a case's commands write, as ``Engine`` does, and renders them
    into statements with the engine's own ``Ledger`` (no database touched)."""

    def __init__(self, engine: Any, moves: Sequence[Move]) -> None:
        self.flow, self.flow_version = engine.flows()["incident"]
        self.kinds = frozenset({self.flow.spec.default_kind})
        self.calendar = engine.ctx.calendar
        self.notices = engine.ctx.notices
        self.ledger = engine.ledger
        self.events = engine.recorder  # the engine's own event builder
        self.moves = moves

    def case_record(self, case_id: int, title: str, state: str) -> CaseRecord:
        return CaseRecord(
            id=case_id,
            flow=self.flow.name,
            flow_version=self.flow_version,
            title=title,
            kinds=",".join(sorted(self.kinds)),
            flags="",
            state=state,
            version=1,
            reporter_id=ACTORS["reporter"],
            coordinator_id=ACTORS["coordinator"],
            operator_id=ACTORS["operator"],
            steps_done="{}",
            last_seq=1,
            last_hash="",
        )

    def event(
        self,
        case_id: int,
        seq: int,
        prev_hash: str,
        at: datetime,
        actor: str,
        action: str,
        step: str | None,
        from_state: str | None,
        to_state: str,
        payload: dict[str, Any],
    ) -> EventRecord:
        return self.events.event(
            case_id, seq, prev_hash, at, actor, action, step, from_state, to_state, None, payload
        )

    def open_case(self, conn: Any, title: str, at: datetime) -> tuple[int, str]:
        """``Engine.open_case``'s transaction on ``conn``; the case id and event hash."""
        flow, state = self.flow, self.flow.states[0]
        record = self.case_record(0, title, state)
        payload = {
            "title": title,
            "kinds": sorted(self.kinds),
            "flow": flow.name,
            "flow_version": self.flow_version,
            "reporter": ACTORS["reporter"],
            "coordinator": ACTORS["coordinator"],
            "operator": ACTORS["operator"],
        }
        events: list[EventRecord] = []
        reporter = ACTORS["reporter"]

        def first_event(case_id: int) -> EventRecord:
            events.append(
                self.event(case_id, 1, GENESIS, at, reporter, "opened", None, None, state, payload)
            )
            return events[-1]

        opened = sorted(open_steps(flow, state, CaseFacts(kinds=self.kinds, flags=frozenset())))

        def effects(case_id: int, _event: EventRecord) -> Effects:
            return Effects(deadlines=deadlines_for(flow, case_id, opened, at, self.calendar))

        case_id = self.ledger.open(conn, record, at, first_event, effects)
        return case_id, events[-1].hash

    def open_txn(self, case_id: int, title: str, at: datetime) -> Txn:
        recorder = Recorder(returning=case_id)
        self.open_case(recorder, title, at)
        return recorder.txns[0]

    def step_txns(
        self, case_id: int, title: str, last_hash: str, moments: Sequence[datetime]
    ) -> list[Txn]:
        """``Engine.advance``'s transaction for every step of the run, without the read."""
        flow, flags, kinds = self.flow, frozenset[str](), self.kinds
        done: dict[str, Any] = {}
        version, seq = 1, 1
        recorder = Recorder(returning=case_id)
        for m, at in zip(self.moves, moments, strict=True):
            spec = flow.steps[m.step]
            was_open = open_steps(flow, m.before, CaseFacts(kinds, flags, dict(done)))
            done[m.step] = [m.actor, at.isoformat()]
            facts = CaseFacts(kinds, flags, done)
            seq += 1
            action = "step_completed"
            event = self.event(
                case_id, seq, last_hash, at, m.actor, action, m.step, m.before, m.after, {}
            )
            last_hash = event.hash
            case = self.case_record(case_id, title, m.after)
            case.version = version + 1
            case.steps_done = json.dumps(done, ensure_ascii=False, separators=(",", ":"))
            case.last_seq, case.last_hash = seq, last_hash
            opened = sorted(open_steps(flow, m.after, facts) - was_open)
            effects = Effects(
                clear_steps=[m.step],
                deadlines=deadlines_for(flow, case_id, opened, at, self.calendar),
                outbox=self.notices.for_step(
                    flow, case, spec, event_seq=seq, at=at, note=None, actor=m.actor
                ),
            )
            self.ledger.apply(
                recorder,
                case,
                expected_version=version,
                closed_at=at if m.after == CLOSED else None,
                event=event,
                effects=effects,
            )
            version += 1
        return recorder.txns


def check_rendering(
    planner: Planner, recorded: Sequence[Txn], case_id: int, title: str
) -> tuple[str, Any]:
    """Stop unless the floor's rendering of the engine's warm-up case is its recording.

    Returns the engine's read of a case (SQL, parameters), which the floor replays.
    """
    ledger = planner.ledger
    opened, steps = recorded[0], recorded[1:]
    if len(steps) != len(planner.moves) or any(not t or t[0][1] != steps[0][0][1] for t in steps):
        sys.exit(f"the engine's warm-up case ran {len(steps)} transactions, not one a step each")
    read = steps[0][0]
    if read[0] or not read[1].startswith("SELECT") or read[2] != (case_id,):
        sys.exit(f"the engine's step transactions start with {read!r}, not the case row's read")
    # The event's hash is its 12th value (the seal follows it).
    last_hash = next(p[11] for _m, sql, p in opened if sql.startswith("INSERT INTO timeline_event"))
    expected = [
        planner.open_txn(case_id, title, moment_of(ledger, opened)),
        *(
            [read, *txn]
            for txn in planner.step_txns(
                case_id, title, last_hash, [moment_of(ledger, t) for t in steps]
            )
        ),
    ]
    for n, (theirs, ours) in enumerate(zip(recorded, expected, strict=True)):
        if theirs != ours:
            which = "the open" if n == 0 else f"step {n} ({planner.moves[n - 1].step})"
            pairs = zip([*theirs, None], [*ours, None], strict=False)
            diff = next((i, a, b) for i, (a, b) in enumerate(pairs) if a != b)
            sys.exit(
                f"the floor does not write what the engine wrote in {which} of case {case_id}: "
                f"statement {diff[0]}:\n  engine: {diff[1]!r}\n  floor:  {diff[2]!r}\n"
                "bring Planner in bench/advance.py up to date with Engine.advance/open_case"
            )
    return read[1], read[2]


# --------------------------------------------------------------------------- the engine


class EngineSide:
    """irflow's ``Engine``, opening cases and timing its ``advance`` calls."""

    def __init__(self, url: str) -> None:
        from irflow import Engine  # after logging is configured

        self.engine = Engine(url)
        self.engine.init()
        flow = self.engine.flows()["incident"][0]
        self.flow = flow
        self.moves = valid_run(flow)

    def open_cases(self, titles: Sequence[str]) -> list[int]:
        open_case = self.engine.open_case
        return [open_case(reporter=ACTORS["reporter"], title=t).case_id for t in titles]

    def run_case(self, case_id: int) -> float:
        advance = self.engine.advance
        elapsed = 0.0
        results = []
        for m in self.moves:
            t0 = time.perf_counter()
            result = advance(case_id, m.step, actor=m.actor)
            elapsed += time.perf_counter() - t0
            results.append(result.state)
        if results != [m.after for m in self.moves]:
            sys.exit(f"case {case_id} went through {results}, not the planned states")
        return elapsed

    @contextmanager
    def recording(self) -> Iterator[Recorder]:
        """Record every statement the engine's ledger runs on its connection meanwhile."""
        ledger = self.engine.ledger
        recorder = Recorder()
        plain = ledger.connection

        @contextmanager
        def recorded() -> Iterator[Any]:
            with plain() as conn:
                recorder.conn = conn
                yield recorder

        ledger.connection = recorded
        try:
            yield recorder
        finally:
            del ledger.connection  # back to the class's method
        if recorder.rolled_back or recorder.ops:
            left = [*recorder.rolled_back, recorder.ops]
            sys.exit(f"the engine left a transaction uncommitted: {left}")


# --------------------------------------------------------------------------- the floor


@dataclass(slots=True)
class FloorCase:
    case_id: int
    title: str
    last_hash: str


class FloorSide:
    """The same writes with the bare driver: what a step costs with no engine around it."""

    def __init__(self, conn: Any, *, sqlite: bool, planner: Planner) -> None:
        self.conn = conn
        self.cursor = conn.cursor()
        self.sqlite = sqlite
        self.planner = planner
        self.read: tuple[str, Any] = ("", ())

    def create_tables(self) -> None:
        types = (
            {"serial": "INTEGER", "moment": "DATETIME"}
            if self.sqlite
            else {"serial": "SERIAL", "moment": "TIMESTAMP WITH TIME ZONE"}
        )
        for ddl in FLOOR_DDL:
            self.conn.execute(ddl.format(**types))
        p = "?" if self.sqlite else "%s"
        for tier, org in ACTORS.items():
            self.conn.execute(
                f"INSERT INTO organisation (id, name, type, tier) VALUES ({p}, {p}, {p}, {p})",
                (org, org, tier, tier),
            )
        self.conn.commit()

    def open_cases(self, titles: Sequence[str]) -> list[FloorCase]:
        """Open cases as ``Engine.open_case`` writes them: the case row, its 'opened'
        event, the first step's deadline rows (not timed; through irflow's ledger)."""
        cases = []
        for title in titles:
            case_id, last_hash = self.planner.open_case(self.conn, title, datetime.now(UTC))
            cases.append(FloorCase(case_id, title, last_hash))
        return cases

    def prepare(self, case: FloorCase) -> list[tuple[tuple[Any, ...], str, Txn]]:
        """The statements of a case's steps, values computed as a caller would (not timed):
        each step's UPDATE parameters, the UPDATE, then the statements that follow."""
        moments = [datetime.now(UTC) for _ in self.planner.moves]
        txns = self.planner.step_txns(case.case_id, case.title, case.last_hash, moments)
        return [(txn[0][2], txn[0][1], txn[1:]) for txn in txns]

    def run_case(self, case: FloorCase, *, read: bool) -> tuple[float, float]:
        """Time the case's step transactions; return that and the time to prepare them."""
        t0 = time.perf_counter()
        steps = self.prepare(case)
        prepared = time.perf_counter() - t0
        conn, cur = self.conn, self.cursor
        execute, executemany = cur.execute, cur.executemany
        select, key = self.read[0], (case.case_id,)
        elapsed = 0.0
        for update_params, update, rest in steps:
            t0 = time.perf_counter()
            if read:
                execute(select, key)
                cur.fetchone()
            execute(update, update_params)
            if cur.rowcount != 1:
                conn.rollback()
                sys.exit(f"floor: case {case.case_id} is not at version {update_params[-1]}")
            for many, sql, params in rest:
                if many:
                    executemany(sql, params)
                else:
                    execute(sql, params)
            conn.commit()
            elapsed += time.perf_counter() - t0
        return elapsed, prepared


# --------------------------------------------------------------------------- databases


@dataclass(slots=True)
class Backend:
    """Where the engine and the floor write, and how to reach them with the bare driver."""

    name: str
    engine_url: str
    connect_engine: Callable[[], Any]
    connect_floor: Callable[[], Any]
    engine_shape: Callable[[str], dict[str, Any]]
    floor_shape: Callable[[Any, str], dict[str, Any]]
    describe: str
    cleanup: Callable[[Any], None]


def sqlite_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    return conn


def sqlite_shape(conn: Any, table: str) -> dict[str, Any]:
    """Columns (name, type, not null, key), indexes (name, unique, origin, partial,
    columns) and foreign keys of a table."""
    indexes = [
        (*row[1:], [c[2] for c in conn.execute(f"PRAGMA index_info({row[1]})")])
        for row in conn.execute(f"PRAGMA index_list({table})")
    ]
    return {
        "columns": [(*r[1:4], r[5]) for r in conn.execute(f"PRAGMA table_info({table})")],
        "indexes": sorted(indexes),
        "foreign keys": sorted(
            tuple(r[2:5]) for r in conn.execute(f"PRAGMA foreign_key_list({table})")
        ),
    }


@contextmanager
def backend_for(url: str | None) -> Iterator[Backend]:
    """The engine's database (fresh or cleared) and the floor's, side by side."""
    with tempfile.TemporaryDirectory(prefix="irflow-bench-") as tmp:
        resolved = make_url(database_url(url or f"sqlite:///{tmp}/engine.db"))
        if resolved.get_backend_name() == "sqlite":
            yield sqlite_backend(resolved, Path(tmp))
        elif resolved.get_backend_name() == "postgresql":
            yield from postgres_backend(resolved)
        else:
            sys.exit(f"--db {url!r}: give sqlite:///FILE or postgresql://USER@HOST:PORT/DB")


def sqlite_backend(url: sqlalchemy.URL, tmp: Path) -> Backend:
    engine_file = Path(url.database or "")
    if engine_file.exists():
        # Foreign keys off (SQLite's default) so that the tables drop in any state.
        with closing(sqlite3.connect(engine_file, isolation_level=None)) as conn:
            for table in irflow_tables():
                conn.execute(f"DROP TABLE IF EXISTS {table}")
    floor_file = tmp / "floor.db"

    def engine_shape(table: str) -> dict[str, Any]:
        with closing(sqlite_connect(engine_file)) as conn:
            return sqlite_shape(conn, table)

    return Backend(
        name="sqlite",
        engine_url=url.render_as_string(hide_password=False),
        connect_engine=lambda: sqlite_connect(engine_file),
        connect_floor=lambda: sqlite_connect(floor_file),
        engine_shape=engine_shape,
        floor_shape=sqlite_shape,
        describe=f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL), engine "
        f"{engine_file}, floor {floor_file}",
        cleanup=lambda conn: conn.close(),
    )


def postgres_backend(url: sqlalchemy.URL) -> Iterator[Backend]:
    import psycopg

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    shown = url.set(drivername="postgresql").render_as_string(hide_password=True)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        for table in irflow_tables():
            admin.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        admin.execute(f"DROP SCHEMA IF EXISTS {FLOOR_SCHEMA} CASCADE")
        admin.execute(f"CREATE SCHEMA {FLOOR_SCHEMA}")
        server = admin.execute("SHOW server_version").fetchone()
        found = admin.execute("SELECT current_schema()").fetchone()
    engine_schema = found[0] if found else "public"

    def shape(conn: Any, table: str, schema: str) -> dict[str, Any]:
        """Columns (name, type, nullable), indexes and constraints of a table."""
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, replace(indexdef, %s, ' ON ') FROM pg_indexes "
            "WHERE schemaname = %s AND tablename = %s ORDER BY indexname",
            (f" ON {schema}.", schema, table),
        ).fetchall()
        # Each side's search_path holds its own schema: references print unqualified.
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = (quote_ident(%s) || '.' || quote_ident(%s))::regclass "
            "ORDER BY conname",
            (schema, table),
        ).fetchall()
        conn.commit()
        return {"columns": columns, "indexes": indexes, "constraints": constraints}

    def engine_shape(table: str) -> dict[str, Any]:
        with psycopg.connect(conninfo) as conn:
            return shape(conn, table, engine_schema)

    def cleanup(conn: Any) -> None:
        conn.rollback()
        conn.execute(f"DROP SCHEMA {FLOOR_SCHEMA} CASCADE")
        conn.commit()
        conn.close()

    yield Backend(
        name="postgresql",
        engine_url=conninfo,
        connect_engine=lambda: psycopg.connect(conninfo),
        connect_floor=lambda: psycopg.connect(conninfo, options=f"-c search_path={FLOOR_SCHEMA}"),
        engine_shape=engine_shape,
        floor_shape=lambda conn, table: shape(conn, table, FLOOR_SCHEMA),
        describe=f"PostgreSQL {server[0] if server else '?'} at {shown} (psycopg "
        f"{psycopg.__version__}), floor in schema {FLOOR_SCHEMA}",
        cleanup=cleanup,
    )


def check_same_tables(backend: Backend, floor_conn: Any) -> None:
    for table in FLOOR_TABLES:
        theirs, ours = backend.engine_shape(table), backend.floor_shape(floor_conn, table)
        for what in theirs:
            if theirs[what] != ours[what]:
                sys.exit(
                    f"irflow's table {table} has {what} {theirs[what]}, the floor's "
                    f"{ours[what]}; bring FLOOR_DDL in bench/advance.py up to date with "
                    "the migrations"
                )


def check_same_rows(backend: Backend, floor_conn: Any, engine_id: int, floor_id: int) -> None:
    """One case of each side, both closed: as many rows in every table a step writes."""
    p = "?" if backend.name == "sqlite" else "%s"

    def counts(conn: Any, case_id: int) -> list[int]:
        cur = conn.cursor()
        found = []
        for table in CASE_TABLES:
            cur.execute(f"SELECT count(*) FROM {table} WHERE case_id = {p}", (case_id,))
            found.append(cur.fetchone()[0])
        conn.rollback()
        return found

    with closing(backend.connect_engine()) as engine_conn:
        theirs = counts(engine_conn, engine_id)
    ours = counts(floor_conn, floor_id)
    if theirs != ours:
        sys.exit(
            f"rows of engine case {engine_id} in {', '.join(CASE_TABLES)}: {theirs}; of "
            f"floor case {floor_id}: {ours}"
        )


# --------------------------------------------------------------------------- memory


def bulk_open(backend: Backend, planner: Planner, numbers: range) -> tuple[list[int], float]:
    """Insert open cases ``memory case {number}`` into the engine's database with the
    bare driver, in the rows ``Engine.open_case`` writes, a batch a transaction;
    ``ENGINE_TOUCHES`` of their ids spread over them, and the time taken."""
    t0 = time.perf_counter()
    titles = [f"memory case {i}" for i in numbers]
    p = "?" if backend.name == "sqlite" else "%s"
    ids: list[int] = []
    with closing(backend.connect_engine()) as conn:
        cur = conn.cursor()
        for start in range(0, len(titles), BULK_BATCH):
            batch = titles[start : start + BULK_BATCH]
            at = datetime.now(UTC)
            cur.execute("SELECT coalesce(max(id), 0) FROM irflow_case")
            last_id = cur.fetchone()[0]
            # The case rows (which do not depend on the id), then the rows that do.
            first = [planner.open_txn(0, title, at)[0] for title in batch]
            insert_case = first[0][1]
            if not insert_case.endswith(" RETURNING id"):
                sys.exit(f"the ledger opens a case with {insert_case!r}, not INSERT ... RETURNING")
            cur.executemany(insert_case.removesuffix(" RETURNING id"), [op[2] for op in first])
            cur.execute(f"SELECT id, title FROM irflow_case WHERE id > {p} ORDER BY id", (last_id,))
            by_title = {title: case_id for case_id, title in cur.fetchall()}
            grouped: dict[str, list[Any]] = {}
            for title in batch:
                for many, sql, params in planner.open_txn(by_title[title], title, at)[1:]:
                    rows = grouped.setdefault(sql, [])
                    if many:
                        rows.extend(params)
                    else:
                        rows.append(params)
            for sql, rows in grouped.items():
                cur.executemany(sql, rows)
            conn.commit()
            ids.extend(by_title[title] for title in batch)
    return ids[:: max(1, len(ids) // ENGINE_TOUCHES)][:ENGINE_TOUCHES], time.perf_counter() - t0


def bulk_open_elsewhere(
    backend: Backend, planner: Planner, numbers: range
) -> tuple[list[int], float]:
    """``bulk_open`` in a forked child process, so that the garbage of rendering the
    rows stays out of the engine process's RSS (in this process where there is no fork)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return bulk_open(backend, planner, numbers)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=lambda: send.send(bulk_open(backend, planner, numbers)))
    child.start()
    send.close()
    try:
        ids, took = receive.recv()
    except EOFError:
        ids, took = [], 0.0
    child.join()
    if child.exitcode != 0 or not ids:
        sys.exit(f"the bulk insert of {len(numbers)} open cases failed (exit {child.exitcode})")
    return ids, took


def memory_growth(eng: EngineSide, backend: Backend, planner: Planner, total: int) -> str:
    """The engine process's RSS growth while the database comes to hold ``total`` open
    cases (see the module's docstring); the ``memory:`` line."""
    engine = eng.engine
    first = eng.moves[0]
    through_engine = total if total <= ENGINE_OPENS + ENGINE_TOUCHES else ENGINE_OPENS
    gc.collect()
    before = rss_bytes()
    t0 = time.perf_counter()
    for i in range(through_engine):  # keeping nothing of what it returns
        engine.open_case(reporter=ACTORS["reporter"], title=f"memory case {i}")
    took = time.perf_counter() - t0
    gc.collect()
    slope = (rss_bytes() - before) / through_engine
    opened = (
        f"{through_engine} opened with Engine.open_case in {took:.1f} s "
        f"({through_engine / took:,.0f}/s, {mb(slope * through_engine)}, "
        f"{slope:,.0f} bytes a case)"
    )
    if through_engine == total:
        return f"memory: {mb(slope * total)} RSS for {total} open cases ({opened})"

    numbers = range(through_engine, total - ENGINE_TOUCHES)
    touched, bulk_took = bulk_open_elsewhere(backend, planner, numbers)
    for i in range(total - ENGINE_TOUCHES, total):
        engine.open_case(reporter=ACTORS["reporter"], title=f"memory case {i}")
    for case_id in touched:
        engine.advance(case_id, first.step, actor=first.actor)
    report = engine.verify(touched[-1], viewer=SYSTEM)[0]
    if not report.ok:
        sys.exit(f"bulk-inserted case {report.case_id} does not verify: {report.problem}")
    gc.collect()
    grown = rss_bytes() - before
    return (
        f"memory: {mb(grown)} RSS holding {total} open cases (aim under 50 MB for "
        f"100000): the first {opened}; {len(numbers)} more bulk-inserted with the bare "
        f"driver in the same rows ({bulk_took:.1f} s, in a child process), then "
        f"{ENGINE_TOUCHES} more opened and {len(touched)} bulk ones advanced a step "
        "through the engine"
    )


# --------------------------------------------------------------------------- main


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases",
        type=int,
        default=2000,
        metavar="N",
        help="cases driven through the whole flow (default 2000)",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="sqlite:///FILE or postgresql://USER@HOST:PORT/DB (irflow's "
        "tables there are dropped first); default: a fresh SQLite file",
    )
    parser.add_argument(
        "--memory-cases",
        type=int,
        default=100_000,
        metavar="M",
        help="open cases held to measure memory growth (default 100000; above "
        f"{ENGINE_OPENS + ENGINE_TOUCHES}, all but {ENGINE_OPENS + ENGINE_TOUCHES} are "
        "bulk-inserted; 0 skips)",
    )
    args = parser.parse_args(argv)
    if args.cases < 1 or args.memory_cases < 0:
        parser.error("--cases must be at least 1 and --memory-cases at least 0")

    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    configure(level="WARNING")  # first: log calls on the hot path are filtered, not written

    with backend_for(args.db) as backend:
        print("irflow bench/advance.py")
        print(f"machine: {machine()}")
        print(
            f"python {platform.python_version()} ({platform.python_implementation()}), "
            f"sqlite {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}, "
            f"irflow {metadata.version('irflow')}"
        )
        print(f"backend: {backend.describe}")

        eng = EngineSide(backend.engine_url)
        flow, moves = eng.flow, eng.moves
        planner = Planner(eng.engine, moves)
        steps = args.cases * len(moves)
        print(
            f"flow {flow.name}: {len(moves)} steps a case ({moves[0].step} .. "
            f"{moves[-1].step}); {args.cases} cases = {steps} steps a side"
        )

        floor_conn = backend.connect_floor()
        try:
            floor = FloorSide(floor_conn, sqlite=backend.name == "sqlite", planner=planner)
            floor.create_tables()
            check_same_tables(backend, floor_conn)

            # The engine's warm-up case, recorded: what the floor must write.
            with eng.recording() as recorder:
                (warm_id,) = eng.open_cases(["bench case 0"])
                eng.run_case(warm_id)
            floor.read = check_rendering(planner, recorder.txns, warm_id, "bench case 0")
            print(f"writes a case: {rows_written(recorder.txns[1:])}, one transaction a step")

            # The start-up heap (SQLAlchemy, pydantic, the flows) out of the collector's
            # way, as `irflow` and `irflow run` do after their imports; both sides alike.
            gc.freeze()

            # Open everything first (not timed); one warm-up case a floor, not counted.
            titles = [f"bench case {i}" for i in range(1, args.cases + 1)]
            engine_ids = eng.open_cases(titles)
            read_cases = floor.open_cases(["bench case 0", *titles])
            bare_cases = floor.open_cases(["bench case 0", *titles])
            floor.run_case(read_cases.pop(0), read=True)
            floor.run_case(bare_cases.pop(0), read=False)

            # Case by case, rotating which side goes first, so that a change in the
            # machine's load (it may be shared) hits every side alike.
            prepare_time = 0.0
            block_times = [[0.0, 0.0, 0.0] for _ in range(BLOCKS)]
            for i, (engine_id, read_case, bare_case) in enumerate(
                zip(engine_ids, read_cases, bare_cases, strict=True)
            ):
                block = block_times[i * BLOCKS // args.cases]
                for side in (0, 1, 2)[i % 3 :] + (0, 1, 2)[: i % 3]:
                    if side == 0:
                        block[0] += eng.run_case(engine_id)
                        continue
                    case = read_case if side == 1 else bare_case
                    written, prepared = floor.run_case(case, read=side == 1)
                    block[side] += written
                    prepare_time += prepared / 2
            check_same_rows(backend, floor_conn, engine_ids[-1], read_cases[-1].case_id)
            check_same_rows(backend, floor_conn, engine_ids[-1], bare_cases[-1].case_id)
            engine_time, read_time, bare_time = (sum(b[k] for b in block_times) for k in range(3))
            block_ratios = [r / e for e, r, _b in block_times if e and r]
        finally:
            backend.cleanup(floor_conn)

        report = eng.engine.verify(engine_ids[-1], viewer=SYSTEM)[0]
        if not report.ok:
            sys.exit(f"the engine's chain of case {report.case_id} is broken: {report.problem}")
        engine_rate, read_rate, bare_rate = (steps / t for t in (engine_time, read_time, bare_time))
        print(
            f"engine: {engine_rate:,.0f} steps/s ({steps} advance calls in "
            f"{engine_time:.2f} s, {engine_time / steps * 1e6:.0f} µs a step)"
        )
        driver = "sqlite3" if backend.name == "sqlite" else "psycopg"
        where = "in" if backend.name == "postgresql" else "just before"
        print(
            f"floor:  {read_rate:,.0f} steps/s ({steps} {driver} transactions in "
            f"{read_time:.2f} s, {read_time / steps * 1e6:.0f} µs a step: the SELECT of "
            f"the case row {where} the transaction, then the engine's writes above; the "
            f"values they write, JSON, SHA-256 and deadlines, took "
            f"{prepare_time / steps * 1e6:.0f} µs a step more, outside the floor)"
        )
        print(
            f"floor without the SELECT: {bare_rate:,.0f} steps/s ({bare_time:.2f} s, "
            f"{bare_time / steps * 1e6:.0f} µs a step; the writes alone; engine/this "
            f"{engine_rate / bare_rate:.2f})"
        )
        wide = max(block_ratios) > 1.25 * min(block_ratios)
        spread = " (wide: the machine was busy, run it again)" if wide else ""
        print(
            f"ratio in {len(block_ratios)} blocks of cases: {min(block_ratios):.2f} .. "
            f"{max(block_ratios):.2f}{spread}"
        )

        if args.memory_cases:
            print(memory_growth(eng, backend, planner, args.memory_cases))
        eng.engine.close()
        print(f"ratio: {engine_rate / read_rate:.2f}")


if __name__ == "__main__":
    main()
