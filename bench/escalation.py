"""Escalation at scale: the sweep, the daemon's start and the lag from deadline to event.

    python bench/escalation.py [--cases N] [--due N] [--rounds R] [--backlog N]
                               [--live N] [--sweep-every S] [--daemon-log FILE] [--db URL]

Sets up N open cases (default 100,000) whose first step's rungs fall due over a week:
a small sample is opened with ``Engine.open_case`` to learn the exact rows the engine
writes (the case row, its hash-chained ``opened`` event, one deadline row a rung), and
the rest are bulk-inserted in the same shapes with the bare driver (the bench's rows
for the sample are checked against the engine's column for column; hashes computed
with ``irflow.engine.timeline.event_hash``; ``COPY`` and ``ANALYZE`` on PostgreSQL). Then:

1. **The sweep.** ``Engine.sweep`` at a moment when ``--due`` rungs (default 1,000)
   are due, timed, as rungs fired per second; ``--rounds`` times (default 3). Beside
   it the floor, on the same table: the ledger's own claim statement (``SELECT ...
   ORDER BY due_at, case_id, step, rung LIMIT 1``, locking with ``SKIP LOCKED`` on
   PostgreSQL; taken from the ledger and printed) followed by the same writes (the
   case row under its version check, the ``escalated`` event, the rung marked fired,
   its outbox row), one transaction a rung, with the bare driver and the values
   computed beforehand; the claim query's own time is printed too. The floor runs
   before, between and after the engine's sweeps, on the rungs due just before and
   just after each, so that a change in the machine's load hits both sides alike; the
   spread of the sweep-by-sweep ratio says whether the machine was quiet. The
   messages these sweeps queued are then marked sent, so that part 2 starts with an
   empty outbox.
2. **The daemon's first sweep.** ``irflow run`` started as a subprocess with
   ``--backlog`` rungs (default 100) fallen due while nothing ran: the time from
   starting it to the moment its first sweep has fired the last of them (read from
   its JSON log on stderr: the ``rung.fired`` lines; no line marks the end of a
   tick, so this is the end of the first tick's sweep, before its outbox drain).
3. **The lag on a live run.** With that daemon running, ``--live`` cases (default
   200) are opened whose first rungs fall due over 20 seconds, starting one periodic
   sweep (and 2 s) later: in the bundled flows a deadline is at least 30 minutes after
   it is written, so a running daemon has always ticked, and learnt of it, before it
   falls due. For every rung due in that window (theirs and the bulk cases') the lag is
   its ``fired_at`` (the engine's clock when it fired, the ``at`` of its
   ``escalated`` event) minus its ``due_at``: p50, p99 and max; if some are over a
   second late, the daemon's log says whether its wake-up job was skipped.

The last line is the ratio of the engine's sweep rate to the floor's (``ratio: 0.55``).
Aims (issue 4): first sweep under 2 s, lag under 1 s at the 99th percentile.

By default it uses a fresh SQLite file in a temporary folder; ``--db
postgresql://postgres@127.0.0.1:5432/test`` runs it on PostgreSQL, **dropping irflow's
tables in that database first**.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy.engine import make_url

from irflow.engine.database import database_url
from irflow.engine.rules import SYSTEM
from irflow.engine.timeline import GENESIS, dump_payload, event_hash
from irflow.logs import configure

REPORTER = "sanjo"
"""三条市: its coordinator is 新潟県, so a ``notify`` rung comes with a contact plan."""
SAMPLE = 20
"""Cases opened with ``Engine.open_case`` to learn (and check) the rows."""
WEEK = timedelta(days=7)
LIVE_WINDOW = 20.0
"""Seconds over which the live cases' first rungs fall due."""
SWEEP_EVERY = 10.0
"""``irflow run``'s default ``--sweep-every``."""
TICK_STARTED = 'Running job "Runner.tick*'
SKIPPED = "maximum number of running instances reached"
"""APScheduler's log lines (stdlib logging, JSON on the daemon's stderr): a tick begins;
a job's run is skipped because the one before it has not returned yet."""
IRFLOW_TABLES = (
    "site_post",
    "outbox",
    "deadline",
    "timeline_event",
    "irflow_case",
    "flow_version",
    "organisation",
    "alembic_version",
)
"""irflow's tables, those that refer to others first."""
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)
"""The pragmas irflow sets on every SQLite connection (irflow/engine/database.py)."""

CASE_COLUMNS = (
    "id",
    "flow",
    "flow_version",
    "title",
    "kinds",
    "flags",
    "state",
    "version",
    "reporter_id",
    "coordinator_id",
    "operator_id",
    "steps_done",
    "opened_at",
    "closed_at",
    "last_seq",
    "last_hash",
    "chain",
    "chain_at",
)
EVENT_COLUMNS = (
    "case_id",
    "seq",
    "at",
    "actor_id",
    "action",
    "step",
    "from_state",
    "to_state",
    "note",
    "payload",
    "prev_hash",
    "hash",
)
DEADLINE_COLUMNS = (
    "case_id",
    "step",
    "rung",
    "action",
    "opened_at",
    "deadline_at",
    "due_at",
    "fired_at",
)
MOMENT_COLUMNS = {"opened_at", "closed_at", "at", "deadline_at", "due_at", "fired_at"}


# --------------------------------------------------------------------------- the floor's SQL

# The floor's statements. The claim is the ledger's own (``Ledger._claim_due``, taken from
# it and printed), so that the floor is always the claim the engine runs, bare. The writes
# are written out, plain to read; ``check_same_sql`` stops the run if the ledger's have
# moved on.
SELECT_CASE = (
    "SELECT id, flow, flow_version, title, kinds, flags, state, version, reporter_id, "
    "coordinator_id, operator_id, steps_done, last_seq, last_hash, chain, chain_at, "
    "(SELECT e.at FROM timeline_event e WHERE e.case_id = c.id AND e.seq = c.last_seq) "
    "FROM irflow_case c WHERE c.id = {p}"
)
UPDATE_CASE = (
    "UPDATE irflow_case SET state = {p}, version = {p}, flags = {p}, "
    "steps_done = {p}, coordinator_id = {p}, last_seq = {p}, last_hash = {p}, "
    "chain = {p}, chain_at = {p}, closed_at = {p} WHERE id = {p} AND version = {p}"
)
INSERT_EVENT = (
    "INSERT INTO timeline_event (case_id, seq, at, actor_id, action, step, from_state, "
    "to_state, note, payload, prev_hash, hash) VALUES ({p12})"
)
MARK_FIRED = (
    "UPDATE deadline SET fired_at = {p} WHERE case_id = {p} AND step = {p} "
    "AND rung = {p} AND fired_at IS NULL"
)
INSERT_OUTBOX = (
    "INSERT INTO outbox (id, case_id, event_seq, channel, kind, template, context, "
    "recipients, sender_id, category, status, attempts, next_attempt_at, created_at) "
    "VALUES ({p10}, 'queued', 0, {p}, {p})"
)


def floor_sql(ledger: Any) -> dict[str, str]:
    p = "?" if ledger.sqlite else "%s"
    fill = {"p": p, "p10": ", ".join([p] * 10), "p12": ", ".join([p] * 12)}
    return {
        "claim": ledger._claim_due,
        "select": SELECT_CASE.format(**fill),
        "update": UPDATE_CASE.format(**fill),
        "insert_event": INSERT_EVENT.format(**fill),
        "mark_fired": MARK_FIRED.format(**fill),
        "insert_outbox": INSERT_OUTBOX.format(**fill),
    }


def check_same_sql(ledger: Any, sql: dict[str, str]) -> None:
    ours_theirs = {
        "select": ledger._select,
        "update": ledger._update,
        "insert_event": ledger._insert_event,
        "mark_fired": ledger._mark_fired,
        "insert_outbox": ledger._insert_outbox,
    }
    for name, theirs in ours_theirs.items():
        if " ".join(theirs.split()) != " ".join(sql[name].split()):
            sys.exit(
                f"the ledger's {name} statement is now\n  {theirs}\nand the floor's\n  "
                f"{sql[name]}\nbring bench/escalation.py up to date with irflow/engine/ledger.py"
            )


# --------------------------------------------------------------------------- databases


@dataclass(slots=True)
class Backend:
    name: str
    url: str
    """The URL as irflow takes it (IRFLOW_DB)."""
    describe: str
    sqlite_file: Path | None = None
    conninfo: str = ""

    @property
    def sqlite(self) -> bool:
        return self.name == "sqlite"

    def connect(self) -> Any:
        """A bare driver connection, set up as irflow sets up its own."""
        if self.sqlite_file is not None:
            conn = sqlite3.connect(self.sqlite_file)
            for pragma in SQLITE_PRAGMAS:
                conn.execute(pragma)
            return conn
        import psycopg

        return psycopg.connect(self.conninfo)


@contextmanager
def backend_for(url: str | None) -> Iterator[Backend]:
    """A fresh SQLite file, or the given database with irflow's tables dropped."""
    with tempfile.TemporaryDirectory(prefix="irflow-bench-") as tmp:
        resolved = make_url(database_url(url or f"sqlite:///{tmp}/escalation.db"))
        if resolved.get_backend_name() == "sqlite":
            path = Path(resolved.database or "")
            if path.exists():
                with closing(sqlite3.connect(path, isolation_level=None)) as conn:
                    for table in IRFLOW_TABLES:
                        conn.execute(f"DROP TABLE IF EXISTS {table}")
            yield Backend(
                name="sqlite",
                url=f"sqlite:///{path}",
                describe=f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL), {path}",
                sqlite_file=path,
            )
        elif resolved.get_backend_name() == "postgresql":
            import psycopg

            conninfo = resolved.set(drivername="postgresql").render_as_string(hide_password=False)
            shown = resolved.set(drivername="postgresql").render_as_string(hide_password=True)
            with psycopg.connect(conninfo, autocommit=True) as admin:
                for table in IRFLOW_TABLES:
                    admin.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
                server = admin.execute("SHOW server_version").fetchone()
            yield Backend(
                name="postgresql",
                url=conninfo,
                describe=f"PostgreSQL {server[0] if server else '?'} at {shown} "
                f"(psycopg {psycopg.__version__})",
                conninfo=conninfo,
            )
        else:
            sys.exit(f"--db {url!r}: give sqlite:///FILE or postgresql://USER@HOST:PORT/DB")


# --------------------------------------------------------------------------- set-up


def due_offsets() -> list[timedelta]:
    """When a new case's rungs fall due, from its opening: one probe case, in a scratch file.

    The incident flow's first step has a wall-clock deadline, so these do not depend on
    the moment; the sample opened on the real database is checked against them.
    """
    from irflow import Engine

    with tempfile.TemporaryDirectory(prefix="irflow-probe-") as tmp:
        probe = Engine(f"sqlite:///{tmp}/probe.db")
        probe.init()
        at = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
        case_id = probe.open_case(reporter=REPORTER, title="probe", at=at).case_id
        offsets = sorted(d.due_at - at for d in probe.deadlines(case_id, viewer=SYSTEM))
        probe.close()
    if not offsets:
        sys.exit("a new case has no deadline rows: nothing to escalate")
    return offsets


@dataclass(slots=True)
class Shape:
    """The rows ``Engine.open_case`` writes for a case, learned from the sample."""

    case: dict[str, Any]
    event: dict[str, Any]
    payload: dict[str, Any]
    rungs: list[tuple[dict[str, Any], timedelta, timedelta]]
    """Each deadline row, with its deadline and due moment as offsets from the opening."""


def select_rows(conn: Any, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cur = conn.cursor()
    cur.execute(sql, params)
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    cur.close()
    conn.commit()
    return rows


def stored_rows(conn: Any, p: str, case_id: int) -> list[tuple[str, dict[str, Any]]]:
    """A case's rows as the database holds them: the case, its events, its deadlines."""
    out = [
        ("irflow_case", r)
        for r in select_rows(
            conn, f"SELECT {', '.join(CASE_COLUMNS)} FROM irflow_case WHERE id = {p}", [case_id]
        )
    ]
    out += [
        ("timeline_event", r)
        for r in select_rows(
            conn,
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM timeline_event WHERE case_id = {p} "
            "ORDER BY seq",
            [case_id],
        )
    ]
    out += [
        ("deadline", r)
        for r in select_rows(
            conn,
            f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM deadline WHERE case_id = {p} "
            "ORDER BY step, rung",
            [case_id],
        )
    ]
    return out


def learn_shape(rows: list[tuple[str, dict[str, Any]]], read: Any) -> Shape:
    case = next(r for t, r in rows if t == "irflow_case")
    events = [r for t, r in rows if t == "timeline_event"]
    deadlines = [r for t, r in rows if t == "deadline"]
    if len(events) != 1 or events[0]["action"] != "opened" or not deadlines:
        sys.exit(f"an opened case has {len(events)} events and {len(deadlines)} deadline rows")
    opened = read(case["opened_at"])
    rungs = [(d, read(d["deadline_at"]) - opened, read(d["due_at"]) - opened) for d in deadlines]
    return Shape(case=case, event=events[0], payload=json.loads(events[0]["payload"]), rungs=rungs)


def build_rows(
    shape: Shape, case_id: int, title: str, opened: datetime, moment: Any
) -> tuple[tuple[Any, ...], tuple[Any, ...], list[tuple[Any, ...]]]:
    """The case row, its ``opened`` event and its deadline rows, as the engine writes them."""
    at = moment(opened)
    payload = dump_payload({**shape.payload, "title": title})
    ev = shape.event
    digest = event_hash(
        case_id=case_id,
        seq=1,
        at=opened,
        actor=ev["actor_id"],
        action=ev["action"],
        step=ev["step"],
        from_state=ev["from_state"],
        to_state=ev["to_state"],
        note=ev["note"],
        payload_json=payload,
        prev_hash=GENESIS,
    )
    case = {
        **shape.case,
        "id": case_id,
        "title": title,
        "opened_at": at,
        "last_hash": digest,
    }
    event = {**ev, "case_id": case_id, "at": at, "payload": payload, "hash": digest}
    deadlines = []
    for d, d_off, due_off in shape.rungs:
        row = {
            **d,
            "case_id": case_id,
            "opened_at": at,
            "deadline_at": moment(opened + d_off),
            "due_at": moment(opened + due_off),
        }
        deadlines.append(tuple(row[c] for c in DEADLINE_COLUMNS))
    return (
        tuple(case[c] for c in CASE_COLUMNS),
        tuple(event[c] for c in EVENT_COLUMNS),
        deadlines,
    )


def normalised(values: Sequence[Any], columns: Sequence[str], read: Any) -> list[Any]:
    return [
        read(v) if c in MOMENT_COLUMNS and v is not None else v
        for v, c in zip(values, columns, strict=True)
    ]


def check_sample(
    conn: Any,
    p: str,
    shape: Shape,
    opened: dict[int, datetime],
    moment: Any,
    read: Any,
    offset_id: int,
) -> None:
    """Every sample case's rows, rebuilt from the shape, are the rows the engine wrote."""
    for case_id, at in opened.items():
        stored = stored_rows(conn, p, case_id)
        title = f"bench case {case_id - offset_id}"
        case, event, deadlines = build_rows(shape, case_id, title, at, moment)
        built = [
            ("irflow_case", case, CASE_COLUMNS),
            ("timeline_event", event, EVENT_COLUMNS),
            *(("deadline", d, DEADLINE_COLUMNS) for d in deadlines),
        ]
        if len(stored) != len(built):
            sys.exit(
                f"case {case_id}: the engine wrote {len(stored)} rows, the bench builds "
                f"{len(built)}"
            )
        for (table, row), (_, values, columns) in zip(stored, built, strict=True):
            theirs = normalised([row[c] for c in columns], columns, read)
            ours = normalised(values, columns, read)
            if theirs != ours:
                diff = [
                    f"{c}: engine {a!r}, bench {b!r}"
                    for c, a, b in zip(columns, theirs, ours, strict=True)
                    if a != b
                ]
                sys.exit(f"case {case_id}, table {table}: {'; '.join(diff)}")


def bulk_insert(
    backend: Backend,
    conn: Any,
    cases: list[tuple[Any, ...]],
    events: list[tuple[Any, ...]],
    deadlines: list[tuple[Any, ...]],
) -> None:
    tables = (
        ("irflow_case", CASE_COLUMNS, cases),
        ("timeline_event", EVENT_COLUMNS, events),
        ("deadline", DEADLINE_COLUMNS, deadlines),
    )
    if backend.sqlite:
        for table, columns, rows in tables:
            marks = ", ".join("?" * len(columns))
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
        return
    with conn.cursor() as cur:
        for table, columns, rows in tables:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('irflow_case', 'id'), "
            "(SELECT max(id) FROM irflow_case))"
        )
    conn.commit()
    conn.autocommit = True
    conn.execute("ANALYZE irflow_case, timeline_event, deadline")
    conn.autocommit = False


# --------------------------------------------------------------------------- the floor


@dataclass(slots=True)
class CaseState:
    version: int
    seq: int
    hash: str


@dataclass(slots=True)
class Planned:
    """One rung's writes, computed before the floor's transactions run."""

    case: tuple[Any, ...]
    event: tuple[Any, ...]
    fired: tuple[Any, ...]
    outbox: list[tuple[Any, ...]]


class Floor:
    """The ledger's claim and writes with the bare driver: a sweep with no engine around it."""

    def __init__(
        self,
        backend: Backend,
        engine: Any,
        states: dict[int, CaseState],
        shape_case: dict[str, Any],
    ) -> None:
        self.conn = backend.connect()
        self.shape_case = shape_case
        self.sqlite = backend.sqlite
        self.sql = floor_sql(engine.ledger)
        check_same_sql(engine.ledger, self.sql)
        self.engine = engine
        self.states = states
        self.claim_time = 0.0
        self.plan_time = 0.0
        self.claims = 0

    def plan(self, due: Sequence[tuple[Any, ...]], now: datetime) -> list[Planned]:
        """The writes of each rung in ``due`` (deadline rows in claim order), fired at ``now``.

        The values are the engine's (irflow/engine/escalation.py): the payload, its
        SHA-256, the contact plan of a ``notify`` rung, the outbox row's context.
        """
        from irflow.engine.routing import plan_contact, render_checklist
        from irflow.engine.tiers import SUPERVISOR

        engine, ledger = self.engine, self.engine.ledger
        flow = engine.flow_version("incident", 1)
        notices = engine.ctx.notices
        rules, calendar = engine.ctx.routing, engine.ctx.calendar
        orgs = engine.organisations()
        shape_case = self.shape_case
        moment = ledger.moment
        planned = []
        who = {
            "reporter": shape_case["reporter_id"],
            "coordinator": shape_case["coordinator_id"],
            "operator": shape_case["operator_id"],
        }
        for row in due:
            case_id, step_id, rung, action, opened, deadline, due_at = row[:7]
            step = flow.steps[step_id]
            owner = who[step.tier]
            told: list[str] = []
            payload: dict[str, Any] = {}
            plan_text = ""
            if action == "remind":
                told = [owner]
            elif action == "notify":
                supervisor = who[SUPERVISOR[step.tier]]
                told = [supervisor]
                if supervisor != owner:
                    plan = plan_contact(
                        rules, calendar, orgs[supervisor], orgs[owner], flow.spec.situation, now
                    )
                    plan_text = render_checklist(plan, orgs[owner].name)
                    payload["contact_plan"] = plan.to_json()
            deadline_at, due_moment = ledger.read_moment(deadline), ledger.read_moment(due_at)
            payload.update(
                rung=rung,
                action=action,
                deadline=deadline_at.isoformat(),
                due_at=due_moment.isoformat(),
                told=told,
            )
            payload_json = dump_payload(payload)
            state = self.states[case_id]
            seq = state.seq + 1
            digest = event_hash(
                case_id=case_id,
                seq=seq,
                at=now,
                actor=None,
                action="escalated",
                step=step_id,
                from_state=shape_case["state"],
                to_state=shape_case["state"],
                note=None,
                payload_json=payload_json,
                prev_hash=state.hash,
            )
            case = (
                shape_case["state"],
                state.version + 1,
                shape_case["flags"],
                shape_case["steps_done"],
                shape_case["coordinator_id"],
                seq,
                digest,
                shape_case["chain"],
                shape_case["chain_at"],
                None,
                case_id,
                state.version,
            )
            event = (
                case_id,
                seq,
                moment(now),
                None,
                "escalated",
                step_id,
                shape_case["state"],
                shape_case["state"],
                None,
                payload_json,
                state.hash,
                digest,
            )
            outbox = []
            if told:
                records = notices.rows(
                    case_id=case_id,
                    event_seq=seq,
                    kind="escalation",
                    template="mail_escalation",
                    context={
                        "case_id": case_id,
                        "title": f"bench case {case_id}",
                        "step_title": step.title,
                        "step_tier": step.tier,
                        "owner": notices.name(owner),
                        "recipient": "、".join(notices.name(t) for t in told),
                        "open_since": ledger.read_moment(opened),
                        "deadline": deadline_at,
                        "rung": rung,
                        "rung_count": len(step.ladder),
                        "rung_action": action,
                        "fired_at": now,
                        "contact_checklist": plan_text,
                    },
                    recipients=told,
                    sender_id=None,
                    category=notices.categories.get(flow.spec.report_category or ""),
                    at=now,
                )
                outbox = [
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
                        moment(o.created_at),
                        moment(o.created_at),
                    )
                    for o in records
                ]
            self.states[case_id] = CaseState(state.version + 1, seq, digest)
            planned.append(
                Planned(
                    case=case,
                    event=event,
                    fired=(moment(now), case_id, step_id, rung),
                    outbox=outbox,
                )
            )
        return planned

    def reload(self, case_ids: set[int]) -> None:
        """Read the version and chain head of cases another writer changed."""
        p = "?" if self.sqlite else "%s"
        for case_id in case_ids:
            (row,) = select_rows(
                self.conn,
                f"SELECT version, last_seq, last_hash FROM irflow_case WHERE id = {p}",
                [case_id],
            )
            self.states[case_id] = CaseState(row["version"], row["last_seq"], row["last_hash"])

    def sweep(self, due: Sequence[tuple[Any, ...]], now: datetime) -> tuple[int, float]:
        """Claim and fire every rung due by ``now``; return how many and the seconds taken."""
        p0 = time.perf_counter()
        planned = self.plan(due, now)
        self.plan_time += time.perf_counter() - p0
        conn, sql, sqlite = self.conn, self.sql, self.sqlite
        at = self.engine.ledger.moment(now)
        fired = 0
        clock = time.perf_counter
        t0 = clock()
        while True:
            cur = conn.cursor()
            if sqlite:
                cur.execute("BEGIN IMMEDIATE")
            c0 = clock()
            cur.execute(sql["claim"], (at,))
            row = cur.fetchone()
            self.claim_time += clock() - c0
            self.claims += 1
            if row is None:
                cur.close()
                conn.rollback()
                break
            want = planned[fired]
            if (row[0], row[1], row[2]) != (want.event[0], want.event[5], want.fired[3]):
                sys.exit(f"floor: claimed {row[:3]}, planned {want.event[0], want.event[5]}")
            cur.execute(sql["select"], (row[0],))
            cur.fetchone()
            cur.execute(sql["update"], want.case)
            if cur.rowcount != 1:
                sys.exit(f"floor: case {row[0]} is not at version {want.case[-1]}")
            cur.execute(sql["insert_event"], want.event)
            cur.execute(sql["mark_fired"], want.fired)
            if cur.rowcount != 1:
                sys.exit(f"floor: rung {row[:3]} was fired already")
            if want.outbox:
                cur.executemany(sql["insert_outbox"], want.outbox)
            cur.close()
            conn.commit()
            fired += 1
        took = clock() - t0
        if fired != len(planned):
            sys.exit(f"floor: fired {fired} rungs, {len(planned)} were due")
        return fired, took


# --------------------------------------------------------------------------- the daemon


class Daemon:
    """``irflow run`` in a subprocess; its JSON log lines on stderr, as they come."""

    def __init__(self, url: str, sweep_every: float | None) -> None:
        env = {**os.environ, "IRFLOW_DB": url}
        cmd = [sys.executable, "-m", "irflow.cli.main", "run"]
        if sweep_every is not None:
            cmd += ["--sweep-every", str(sweep_every)]
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.changed = threading.Condition()
        self.started_at = datetime.now(UTC)
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.changed:
                self.raw.append(line.rstrip("\n"))
                with suppress(ValueError):
                    self.lines.append(json.loads(line))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def matching(self, event: str) -> list[dict[str, Any]]:
        """The log lines whose event is ``event`` (or starts with it, if it ends in "*")."""
        if event.endswith("*"):
            return [e for e in self.lines if str(e.get("event", "")).startswith(event[:-1])]
        return [e for e in self.lines if e.get("event") == event]

    def wait_for(self, event: str, count: int = 1, timeout: float = 0.0) -> dict[str, Any] | None:
        """The ``count``-th log line of ``event`` (1-based), waiting up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = self.matching(event)
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.changed.wait(min(left, 0.5))

    def stop(self) -> dict[str, Any] | None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        return self.wait_for("irflow.stopped", 1, 0)

    def tail(self, lines: int | None = 10) -> str:
        with self.changed:
            return "\n".join(self.raw[-lines:] if lines else self.raw)


def log_moment(line: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00"))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    return values[max(0, math.ceil(q * len(values)) - 1)]


def count_unfired(conn: Any, p: str, moment: Any, since: Any = None) -> int:
    cur = conn.cursor()
    if since is None:
        cur.execute(
            f"SELECT count(*) FROM deadline WHERE fired_at IS NULL AND due_at <= {p}", (moment,)
        )
    else:
        cur.execute(
            "SELECT count(*) FROM deadline WHERE fired_at IS NULL "
            f"AND due_at >= {p} AND due_at <= {p}",
            (since, moment),
        )
    n = int(cur.fetchone()[0])
    cur.close()
    conn.commit()
    return n


def report_lag(
    daemon: Daemon,
    rows: list[dict[str, Any]],
    read: Any,
    *,
    first_live_id: int,
    opened_by: datetime,
) -> None:
    """Print the lag from deadline to event of the rungs due in the live window, and why
    the late ones were late, from the daemon's log (APScheduler logs each run of a job
    and each run it skips)."""
    fired = [
        (r["case_id"] >= first_live_id, read(r["due_at"]), read(r["fired_at"]))
        for r in rows
        if r["fired_at"] is not None
    ]
    if not fired:
        sys.exit("no rung fired during the live run")
    lags = sorted((at - due).total_seconds() for _, due, at in fired)
    live = sum(1 for is_live, _, _ in fired if is_live)
    unfired = len(rows) - len(fired)
    print(
        f"live lag, deadline to event: p50 {percentile(lags, 0.5) * 1000:,.0f} ms, p99 "
        f"{percentile(lags, 0.99) * 1000:,.0f} ms, max {lags[-1] * 1000:,.0f} ms over "
        f"{len(lags)} rungs due in {LIVE_WINDOW:.0f} s ({live} of cases opened while irflow "
        f"run ran, {len(lags) - live} of the bulk cases)"
        f"{f'; {unfired} NOT FIRED within 30 s' if unfired else ''} (aim p99 < 1 s)"
    )
    late = [
        (r["case_id"] >= first_live_id, read(r["due_at"]), (r["case_id"], r["step"], r["rung"]))
        for r in rows
        if r["fired_at"] is not None
        and (read(r["fired_at"]) - read(r["due_at"])).total_seconds() > 1
    ]
    if not late:
        return
    # Which tick fired each rung: the periodic sweep, or a wake-up (APScheduler logs the
    # trigger of each run of a job; the engine logs each rung it fires).
    by_periodic: set[tuple[Any, ...]] = set()
    periodic = False
    for e in daemon.lines:
        event = str(e.get("event", ""))
        if event.startswith(TICK_STARTED.rstrip("*")):
            periodic = "trigger: interval" in event
        elif event == "rung.fired" and periodic:
            by_periodic.add((e.get("case_id"), e.get("step"), e.get("rung")))
    ticks = sorted(log_moment(e) for e in daemon.matching(TICK_STARTED))
    learnt = next((t for t in ticks if t >= opened_by), None)
    unseen = sum(1 for is_live, due, _ in late if is_live and learnt is not None and due < learnt)
    skipped = sum(1 for e in daemon.lines if SKIPPED in str(e.get("event")))
    print(
        f"  late (> 1 s): {len(late)} rungs, {sum(1 for *_, key in late if key in by_periodic)} "
        "of them fired by the periodic sweep: no wake-up was pending for them (APScheduler "
        f"skipped the wake-up job {skipped} times, 'maximum number of running instances "
        "reached')"
        + (
            f"; {unseen} were due before the daemon's first tick after their cases were "
            "opened (it sees another process's new deadlines when it ticks)"
            if unseen
            else ""
        )
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
        default=100_000,
        metavar="N",
        help="open cases, deadlines spread over a week (default 100000)",
    )
    parser.add_argument(
        "--due",
        type=int,
        default=1000,
        metavar="N",
        help="rungs due at the moment of the timed sweep (default 1000)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        metavar="R",
        help="timed sweeps, each between two runs of the floor (default 3)",
    )
    parser.add_argument(
        "--backlog",
        type=int,
        default=100,
        metavar="N",
        help="rungs fallen due when irflow run starts (default 100)",
    )
    parser.add_argument(
        "--live",
        type=int,
        default=200,
        metavar="N",
        help="cases opened while irflow run runs, first rungs due over the next 20 s (default 200)",
    )
    parser.add_argument(
        "--sweep-every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="passed to irflow run (default: irflow's own, 10 s)",
    )
    parser.add_argument(
        "--daemon-log",
        type=Path,
        metavar="FILE",
        help="write irflow run's stderr (its JSON log) to FILE",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="sqlite:///FILE or postgresql://USER@HOST:PORT/DB (irflow's "
        "tables there are dropped first); default: a fresh SQLite file",
    )
    args = parser.parse_args(argv)
    if args.cases <= SAMPLE or min(args.due, args.rounds, args.backlog, args.live) < 1:
        parser.error(f"--cases must be over {SAMPLE}, the other counts at least 1")
    if (2 * args.rounds + 1) * args.due + args.backlog > args.cases:
        parser.error("--cases too small for (2 x --rounds + 1) x --due + --backlog rungs")

    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    configure(level="WARNING")  # the engine's INFO lines (rung.fired) are filtered, not written

    from irflow import Engine  # after logging is configured

    with backend_for(args.db) as backend:
        print("irflow bench/escalation.py")
        print(f"machine: {machine()}")
        print(
            f"python {platform.python_version()} ({platform.python_implementation()}), "
            f"SQLAlchemy {sqlalchemy.__version__}"
        )
        print(f"backend: {backend.describe}")
        p = "?" if backend.sqlite else "%s"

        # ------------------------------------------------------------- set-up
        t_setup = time.perf_counter()
        offsets = due_offsets()
        first_due = offsets[0]
        engine = Engine(backend.url)
        engine.init()
        moment, read = engine.ledger.moment, engine.ledger.read_moment
        n = args.cases
        spacing = WEEK / n
        # The k-th case of the week opens at base + k * spacing. The first (2 x --rounds
        # + 1) x --due rungs go to the timed sweeps and the floor, the next --backlog are
        # due when `irflow run` starts: place the week so that the last of those falls due
        # about now.
        cut = (2 * args.rounds + 1) * args.due + args.backlog - 1
        rung_moments = sorted(k * spacing + off for k in range(n) for off in offsets)
        base = datetime.now(UTC) - rung_moments[cut]
        del rung_moments
        sample_opened: dict[int, datetime] = {}
        for k in range(SAMPLE):
            at = base + k * spacing
            title = f"bench case {k + 1}"
            sample_opened[engine.open_case(reporter=REPORTER, title=title, at=at).case_id] = at
        ids = sorted(sample_opened)
        offset_id = ids[0] - 1  # the week's k-th case gets id k + offset_id + 1
        if ids != list(range(ids[0], ids[0] + SAMPLE)):
            sys.exit(f"the sample cases got ids {ids}, not consecutive ones")
        conn = backend.connect()
        shape = learn_shape(stored_rows(conn, p, ids[0]), read)
        if sorted(due_off for _, _, due_off in shape.rungs) != offsets:
            sys.exit("the sample's rungs are not due at the probe's offsets")
        check_sample(conn, p, shape, sample_opened, moment, read, offset_id)
        t_bulk = time.perf_counter()
        cases, events, deadlines = [], [], []
        for k in range(SAMPLE, n):
            case_id = k + offset_id + 1
            case, event, rows = build_rows(
                shape, case_id, f"bench case {k + 1}", base + k * spacing, moment
            )
            cases.append(case)
            events.append(event)
            deadlines.extend(rows)
        build_time = time.perf_counter() - t_bulk
        bulk_insert(backend, conn, cases, events, deadlines)
        del cases, events, deadlines
        bulk_time = time.perf_counter() - t_bulk
        setup_time = time.perf_counter() - t_setup
        for case_id in (ids[-1] + 1, offset_id + n):
            report = engine.verify(case_id, viewer=SYSTEM)[0]
            if not report.ok:
                sys.exit(f"bulk case {case_id}'s chain is broken: {report.problem}")
        states = {
            r["id"]: CaseState(r["version"], r["last_seq"], r["last_hash"])
            for r in select_rows(
                conn, "SELECT id, version, last_seq, last_hash FROM irflow_case", []
            )
        }
        print(
            f"set-up: {n:,} open cases, {n * len(offsets):,} rungs due over a week from "
            f"{(base + first_due).isoformat(timespec='seconds')}, in {setup_time:.1f} s: "
            f"{SAMPLE} opened with Engine.open_case (their rows rebuilt by the bench column "
            f"for column), the rest built in {build_time:.1f} s and bulk-inserted in "
            f"{bulk_time - build_time:.1f} s"
        )

        # ------------------------------------------------------------- 1. the sweep
        # 2 x --rounds + 1 windows of --due rungs each, in claim order: the floor fires the
        # even ones, Engine.sweep the odd ones, each at its last rung's moment; so that a
        # change in the machine's load hits both sides alike.
        count = 2 * args.rounds + 1
        due_rows = [
            tuple(r[c] for c in DEADLINE_COLUMNS)
            for r in select_rows(
                conn,
                f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM deadline WHERE fired_at IS NULL "
                f"ORDER BY due_at, case_id, step, rung LIMIT {count * args.due + 100}",
                [],
            )
        ]
        moments = [read(due_rows[(j + 1) * args.due - 1][6]) for j in range(count)]
        windows: list[list[tuple[Any, ...]]] = [[] for _ in range(count)]
        for row in due_rows:
            j = next((j for j, m in enumerate(moments) if read(row[6]) <= m), None)
            if j is None:
                break
            windows[j].append(row)  # a tie at a window's end belongs to that window
        warm_at = read(due_rows[0][6]) - timedelta(seconds=1)
        del due_rows
        floor = Floor(backend, engine, states, shape.case)
        # Warm what a running daemon has warm (flows, directory, routing, templates): its
        # one-off loads are part 2's subject, not this one's.
        engine.organisations()
        _ = engine.ctx.routing, engine.ctx.calendar, engine.ctx.notices
        if engine.sweep(at=warm_at):
            sys.exit("a rung was due before the first window")
        floor_runs: list[tuple[int, float]] = []
        engine_runs: list[tuple[int, float]] = []
        for j, (window, at) in enumerate(zip(windows, moments, strict=True)):
            if j % 2 == 0:
                floor_runs.append(floor.sweep(window, at))
                continue
            t0 = time.perf_counter()
            fired = engine.sweep(at=at)
            engine_runs.append((len(fired), time.perf_counter() - t0))
            if len(fired) != len(window):
                sys.exit(f"the engine fired {len(fired)} rungs, {len(window)} were due")
            floor.reload({f.case_id for f in fired})  # those cases moved on under the engine
            for case_id in {fired[0].case_id, window[0][0]}:
                report = engine.verify(case_id, viewer=SYSTEM)[0]
                if not report.ok:
                    sys.exit(f"case {case_id}'s chain is broken: {report.problem}")
        for case_id in {windows[0][0][0], windows[-1][-1][0]}:
            report = engine.verify(case_id, viewer=SYSTEM)[0]
            if not report.ok:
                sys.exit(f"a floor-fired case's chain is broken: {report.problem}")
        floor.conn.close()
        engine_fired, engine_time = map(sum, zip(*engine_runs, strict=True))
        floor_fired, floor_time = map(sum, zip(*floor_runs, strict=True))
        engine_rate = engine_fired / engine_time
        floor_rate = floor_fired / floor_time
        # Each engine sweep against the floor runs just before and just after it.
        ratios = [
            (n_e / t_e) / ((n_b + n_a) / (t_b + t_a))
            for (n_e, t_e), (n_b, t_b), (n_a, t_a) in zip(
                engine_runs, floor_runs, floor_runs[1:], strict=False
            )
        ]
        rates = [n_e / t_e for n_e, t_e in engine_runs]
        driver = "sqlite3" if backend.sqlite else "psycopg"
        print(
            f"sweep: {engine_rate:,.0f} rungs/s, Engine.sweep at a moment when {args.due:,} "
            f"rungs are due ({engine_time / engine_fired * 1e6:,.0f} µs a rung; "
            f"{len(engine_runs)} sweeps, {engine_fired:,} rungs in {engine_time:.2f} s, "
            f"{min(rates):,.0f} .. {max(rates):,.0f}/s)"
        )
        print(
            f"floor: {floor_rate:,.0f} rungs/s ({driver}: the ledger's claim query and the "
            f"same writes, one transaction a rung; {floor_fired:,} rungs in {floor_time:.2f} s, "
            f"{floor_time / floor_fired * 1e6:,.0f} µs a rung; the values they write, payload "
            f"JSON, SHA-256, contact plan and message context, took "
            f"{floor.plan_time / floor_fired * 1e6:,.0f} µs a rung more, outside the floor)"
        )
        claim_us = floor.claim_time / floor.claims * 1e6
        print(
            f"  the bare claim query alone: {claim_us:,.0f} µs a call, {1e6 / claim_us:,.0f} "
            f"calls/s ({floor.claims:,} calls: one a rung and one more a sweep): "
            f"{' '.join(floor.sql['claim'].split())}"
        )
        wide = max(ratios) > 1.25 * min(ratios)
        print(
            f"  ratio of each sweep to the floor around it: {min(ratios):.2f} .. "
            f"{max(ratios):.2f}{' (wide: the machine was busy, run it again)' if wide else ''}"
        )
        # Part 1's messages are not part 2's subject: mark them sent (not delivered) so
        # that the daemon starts with an empty queue.
        cur = conn.cursor()
        cur.execute(
            "UPDATE outbox SET status = 'sent', sent_at = created_at WHERE status = 'queued'"
        )
        cur.close()
        conn.commit()

        # ------------------------------------------------------------- 2. first sweep
        started_at = datetime.now(UTC)
        backlog = count_unfired(conn, p, moment(started_at))
        daemon = Daemon(backend.url, args.sweep_every)
        try:
            started = daemon.wait_for("irflow.started", 1, 60)
            if started is None:
                sys.exit(f"irflow run did not start:\n{daemon.tail()}")
            last = daemon.wait_for("rung.fired", backlog, 120) if backlog else started
            if last is None:
                sys.exit(f"irflow run did not fire the {backlog} due rungs:\n{daemon.tail()}")
            to_started = (log_moment(started) - daemon.started_at).total_seconds()
            to_first = (log_moment(last) - daemon.started_at).total_seconds()
            tick = daemon.wait_for(TICK_STARTED)
            to_tick = (log_moment(tick) - daemon.started_at).total_seconds() if tick else None
            left = count_unfired(conn, p, moment(started_at))
            if left:
                sys.exit(f"irflow run logged {backlog} rung.fired lines, {left} are unfired")
            print(
                f"first sweep: irflow run fired the {backlog} rungs due at its start "
                f"{to_first:.2f} s after it was started (aim < 2 s), measured to its last "
                "'rung.fired' log line (no line marks the end of a tick): 'irflow.started' "
                f"at {to_started:.2f} s, its first tick began at "
                f"{f'{to_tick:.2f}' if to_tick is not None else '?'} s"
            )

            # --------------------------------------------------------- 3. live lag
            # The first live rung falls due one periodic sweep (and 2 s) from now: in the
            # bundled flows a deadline is at least 30 minutes after it is written, so a
            # daemon has always ticked (and learnt of it) before it falls due. A deadline
            # written by another process nearer than the daemon's next tick is seen at that
            # tick, late.
            lead = (args.sweep_every or SWEEP_EVERY) + 2.0
            live_start = datetime.now(UTC) + timedelta(seconds=lead)
            live_end = live_start + timedelta(seconds=LIVE_WINDOW)
            for i in range(args.live):
                due = live_start + timedelta(seconds=LIVE_WINDOW * i / args.live)
                engine.open_case(reporter=REPORTER, title=f"live case {i}", at=due - first_due)
            opened_by = datetime.now(UTC)
            give_up = live_end + timedelta(seconds=30)
            while True:
                now = datetime.now(UTC)
                if now > live_end and not count_unfired(
                    conn, p, moment(live_end), since=moment(live_start)
                ):
                    break
                if now > give_up:
                    break
                time.sleep(0.5)
            lag_rows = select_rows(
                conn,
                f"SELECT case_id, step, rung, due_at, fired_at FROM deadline WHERE due_at >= {p} "
                f"AND due_at <= {p} ORDER BY due_at",
                [moment(live_start), moment(live_end)],
            )
        finally:
            stopped = daemon.stop()
        report_lag(daemon, lag_rows, read, first_live_id=offset_id + n + 1, opened_by=opened_by)
        print(
            f"irflow run stopped on SIGTERM with exit code {daemon.proc.returncode} after "
            f"{stopped.get('ticks') if stopped else '?'} ticks"
        )
        if args.daemon_log:
            args.daemon_log.write_text(daemon.tail(None) + "\n", encoding="utf-8")
        conn.close()
        engine.close()
        print(f"ratio: {engine_rate / floor_rate:.2f}")


if __name__ == "__main__":
    main()
