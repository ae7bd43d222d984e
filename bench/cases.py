"""`case list`'s first page at 1,000 and at 100,000 cases: it must not grow with the table.

    python bench/cases.py [--sizes 1000,100000] [--rounds R] [--db URL]

For each size N, on a fresh database: an incident case and an inquiry (a private
flow) are opened with ``Engine.open_case`` to learn the rows the engine writes (the
case row and its deadline rows); the other N - 2 are bulk-inserted with the bare
driver in those shapes (every tenth an inquiry, every seventh with a fired rung, so
that the page has cases to hide and overdue marks to read; ``COPY`` and ``ANALYZE``
on PostgreSQL; the list reads only ``irflow_case`` and ``deadline``, so no timeline
is written). Then ``Engine.cases(viewer=SYSTEM)`` (the first page of 50, as `irflow
case list` reads it without --as) is timed ``--rounds`` times (default 30; median) on one
engine, after one warm-up call. Beside it the floor: the same page read with the bare
driver (``sqlite3`` or ``psycopg``) by the two statements below (the page, then the
overdue marks of its numbers, as the engine reads them), which give the same rows
(checked). Printed for each size: the engine's time, the floor's, their ratio
(floor / engine, as in the other benches: 1.0 would be the driver's speed), and the
engine process's RSS growth over the rounds; then the ratio of the 100,000 figure to
the 1,000 one (aim: within 1.5x), the last line.

By default it uses a fresh SQLite file in a temporary folder; ``--db
postgresql://postgres@127.0.0.1:5432/test`` runs it on PostgreSQL, **dropping irflow's
tables in that database first**.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from advance import mb, rss_bytes
from escalation import (
    CASE_COLUMNS,
    DEADLINE_COLUMNS,
    Backend,
    backend_for,
    bulk_insert,
    machine,
    select_rows,
)

PAGE = 50
AT = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
FLOOR_SQL = (
    "SELECT id, flow, state, version, title, reporter_id, coordinator_id, chain, chain_at "
    "FROM irflow_case WHERE id > {p} ORDER BY id LIMIT {p}"
)
"""The administrator's first page (``viewer=SYSTEM``): every case."""
MARKS_SQL = (
    "SELECT DISTINCT case_id FROM deadline WHERE fired_at IS NOT NULL AND case_id IN ({ids})"
)
"""Which of them are overdue (a fired rung), on the page's numbers."""


def fill(backend: Backend, total: int) -> tuple[str, int]:
    """``total`` cases in the database; the private flow version the page leaves out."""
    from irflow import Engine

    engine = Engine(backend.url)
    engine.init()
    incident = engine.open_case(reporter="sanjo", title="障害", at=AT).case_id
    inquiry = engine.open_case(
        reporter="sanjo", title="問合せ", kinds=["inquiry"], confirmed=["faq_checked"], at=AT
    ).case_id
    engine.close()
    p = "?" if backend.sqlite else "%s"
    conn = backend.connect()
    case_sql = f"SELECT {', '.join(CASE_COLUMNS)} FROM irflow_case WHERE id = {p}"
    rung_sql = f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM deadline WHERE case_id = {p}"
    shapes = {
        kind: (select_rows(conn, case_sql, [cid])[0], select_rows(conn, rung_sql, [cid]))
        for kind, cid in (("incident", incident), ("inquiry", inquiry))
    }
    cases: list[tuple[Any, ...]] = []
    rungs: list[tuple[Any, ...]] = []
    for case_id in range(inquiry + 1, total + 1):
        case, deadlines = shapes["inquiry" if case_id % 10 == 0 else "incident"]
        cases.append(tuple({**case, "id": case_id, "title": f"case {case_id}"}.values()))
        for n, rung in enumerate(deadlines):
            fired = rung["due_at"] if n == 0 and case_id % 7 == 0 else None
            rungs.append(tuple({**rung, "case_id": case_id, "fired_at": fired}.values()))
    bulk_insert(backend, conn, cases, [], rungs)
    conn.close()
    private = shapes["inquiry"][0]
    return private["flow"], int(private["flow_version"])


def timed(read: Any, rounds: int) -> tuple[float, Any]:
    """The median seconds of ``read()`` over ``rounds`` calls (after one warm-up) and
    its last result."""
    result = read()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = read()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(backend: Backend, total: int, rounds: int) -> float:
    """Time the first page at ``total`` cases; print the figures; the engine's time."""
    from irflow import SYSTEM, Engine

    fill(backend, total)
    gc.collect()
    conn = backend.connect()
    p = "?" if backend.sqlite else "%s"
    sql = FLOOR_SQL.format(p=p)

    def floor() -> list[tuple[Any, ...]]:
        cur = conn.cursor()
        cur.execute(sql, (0, PAGE))
        rows = cur.fetchall()
        ids = [r[0] for r in rows]
        cur.execute(MARKS_SQL.format(ids=", ".join([p] * len(ids))), ids)
        late = {r[0] for r in cur.fetchall()}
        cur.close()
        conn.commit()
        return [(*r, r[0] in late) for r in rows]

    engine = Engine(backend.url)
    floor_time, floor_rows = timed(floor, rounds)
    before = rss_bytes()
    engine_time, page = timed(lambda: engine.cases(viewer=SYSTEM), rounds)
    grown = rss_bytes() - before
    floor_again, _ = timed(floor, rounds)  # before and after, in case the load changed
    floor_time = min(floor_time, floor_again)
    engine.close()
    conn.close()
    listed = [(c.id, c.state, c.overdue) for c in page]
    expected = [(r[0], r[2], bool(r[9])) for r in floor_rows]
    if listed != expected:
        sys.exit(f"the engine's page differs from the floor's: {listed[:3]} vs {expected[:3]}")
    print(
        f"{total:>7,} cases: Engine.cases first page {engine_time * 1000:.2f} ms, "
        f"floor {floor_time * 1000:.2f} ms, ratio {floor_time / engine_time:.2f}; "
        f"RSS growth over {rounds + 1} pages {mb(grown)} "
        f"({sum(c.overdue for c in page)} of {len(page)} marked overdue)"
    )
    return engine_time


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,100000", help="case counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--db", default=None, help="a database URL (default: a SQLite file)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(machine())
    figures = []
    for total in sizes:
        with backend_for(args.db) as backend:
            if total == sizes[0]:
                print(backend.describe)
                print(f"floor: {FLOOR_SQL.format(p='?')}; {MARKS_SQL.format(ids='?, ...')}")
            figures.append(measure(backend, total, args.rounds))
    if len(figures) > 1:
        print(
            f"{sizes[-1]:,} / {sizes[0]:,} cases: {figures[-1] / figures[0]:.2f}x "
            "(aim: within 1.5x)"
        )


if __name__ == "__main__":
    main()
