"""How fast `verify` proves a database, and that it does so in constant memory.

``python bench/verify.py [--cases N] [--db URL]`` builds N closed incident cases
(default 100,000; 16 events each): one is driven through the whole incident flow with
``Engine.advance``, the rest are copies of its rows with their own ids, each event's hash
recomputed with ``irflow.engine.timeline.event_hash``, bulk-inserted with the bare driver.
Then ``Engine.verify_iter`` over every case (chains, and rows replayed through the flow's
machine) beside a floor in the same run: the same two reads a batch (the ledger's own
statements) on the bare driver, each event's hash recomputed and the chain's end compared
with the row, nothing replayed. Printed: cases a second for both, the ratio, and the
growth of the peak RSS while the engine verified (constant memory: it should not grow
with N). See bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import resource
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta

from escalation import Backend, backend_for, machine  # bench/escalation.py

from irflow.clock import FixedClock
from irflow.engine.audit import BATCH
from irflow.engine.facade import Engine
from irflow.engine.flow import bundled_flow
from irflow.engine.ledger import Ledger
from irflow.engine.rules import SYSTEM
from irflow.engine.timeline import GENESIS, event_hash
from irflow.logs import configure

ACTORS = {"reporter": "sanjo", "coordinator": "pref-niigata", "operator": "mic-mynumber"}
WHOLE_CASE = [
    "detect_anomaly", "report_status", "coordinator_report_status", "receive_occurrence_report",
    "analyse_event", "receive_analysis", "analyse_failure", "contact_agencies",
    "carry_out_response", "operator_response", "receive_results", "operator_receive_results",
    "confirm_recovery", "receive_completion", "announce_status",
]  # fmt: skip
CASE_COLUMNS = (
    "flow, flow_version, title, kinds, flags, state, version, reporter_id, coordinator_id, "
    "operator_id, steps_done, opened_at, closed_at, last_seq, last_hash, chain, chain_at"
)
EVENT_COLUMNS = (
    "case_id, seq, at, actor_id, action, step, from_state, to_state, note, payload, prev_hash, hash"
)


def rss_mb() -> float:
    """The process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(backend: Backend, cases: int) -> None:
    """The template case through the engine, then ``cases - 1`` copies, bulk-inserted."""
    start = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)
    flow = bundled_flow("incident")
    with Engine(backend.url, clock=FixedClock(start)) as engine:
        engine.init()
        case_id = engine.open_case(reporter=ACTORS["reporter"], title="bench").case_id
        for n, step in enumerate(WHOLE_CASE, start=1):
            actor = ACTORS[flow.steps[step].tier]
            engine.advance(case_id, step, actor=actor, at=start + timedelta(minutes=n))
        read = engine.ctx.ledger.read_moment
    with closing(backend.connect()) as conn:
        cur = conn.cursor()
        cur.execute(f"SELECT {CASE_COLUMNS} FROM irflow_case WHERE id = {case_id}")
        case = list(cur.fetchone())
        cur.execute(f"SELECT {EVENT_COLUMNS} FROM timeline_event WHERE case_id = {case_id} "
                    "ORDER BY seq")  # fmt: skip
        events = [list(r) for r in cur.fetchall()]
        moments = [read(e[2]) for e in events]
        p = "?" if backend.sqlite else "%s"
        insert_case = f"INSERT INTO irflow_case (id, {CASE_COLUMNS}) VALUES ({', '.join([p] * 18)})"
        marks = ", ".join([p] * 12)
        insert_event = f"INSERT INTO timeline_event ({EVENT_COLUMNS}) VALUES ({marks})"
        chunk = 5_000
        for first in range(case_id + 1, case_id + cases, chunk):
            case_rows, event_rows = [], []
            for cid in range(first, min(first + chunk, case_id + cases)):
                prev = GENESIS
                for ev, at in zip(events, moments, strict=True):
                    digest = event_hash(
                        case_id=cid, seq=ev[1], at=at, actor=ev[3], action=ev[4], step=ev[5],
                        from_state=ev[6], to_state=ev[7], note=ev[8], payload_json=ev[9],
                        prev_hash=prev,
                    )  # fmt: skip
                    event_rows.append((cid, *ev[1:10], prev, digest))
                    prev = digest
                row = list(case)
                row[14] = prev
                case_rows.append((cid, *row))
            cur.executemany(insert_case, case_rows)
            cur.executemany(insert_event, event_rows)
            conn.commit()
        cur.execute("ANALYZE")
        conn.commit()


def engine_run(url: str) -> tuple[int, int, float, float]:
    """Cases verified, cases ok, seconds, and the peak RSS growth in MB while verifying."""
    with Engine(url) as engine:
        list(engine.verify_iter(1, viewer=SYSTEM))  # warm: the flow parsed, the connection open
        gc.collect()
        before = rss_mb()
        count = good = 0
        began = time.perf_counter()
        for report in engine.verify_iter(viewer=SYSTEM):
            count += 1
            good += report.ok
        took = time.perf_counter() - began
        return count, good, took, rss_mb() - before


def floor_run(backend: Backend, ledger: Ledger) -> tuple[int, int, float]:
    """The same reads on the bare driver, every hash recomputed, nothing replayed."""
    cases_sql, events_sql = ledger.reads["verify_cases"], ledger.reads["verify_events"]
    read = ledger.read_moment
    with closing(backend.connect()) as conn:
        cur = conn.cursor()
        count = good = 0
        began = time.perf_counter()
        after = 0
        while True:
            cur.execute(cases_sql, (after, 2**63 - 1, BATCH))
            rows = cur.fetchall()
            if not rows:
                break
            cur.execute(events_sql, (after, rows[-1][0]))
            ends: dict[int, tuple[int, str, bool]] = {}
            for ev in cur.fetchall():
                cid = ev[0]
                seq, prev, fine = ends.get(cid, (0, GENESIS, True))
                digest = event_hash(
                    case_id=cid, seq=ev[1], at=read(ev[2]), actor=ev[3], action=ev[4],
                    step=ev[5], from_state=ev[6], to_state=ev[7], note=ev[8], payload_json=ev[9],
                    prev_hash=prev,
                )  # fmt: skip
                ok = fine and ev[1] == seq + 1 and ev[10] == prev and digest == ev[11]
                ends[cid] = (ev[1], ev[11], ok)
            for row in rows:
                count += 1
                seq, last, fine = ends.get(row[0], (0, "", False))
                good += fine and seq == row[12] and last == row[13]
            after = rows[-1][0]
            conn.rollback()
        return count, good, time.perf_counter() - began


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--db", help="postgresql://USER@HOST/DB (its irflow tables dropped)")
    args = parser.parse_args(argv)
    configure(stdlib=False)
    with backend_for(args.db) as backend:
        print(f"{machine()}\n{backend.describe}")
        began = time.perf_counter()
        # In a child: the build's garbage stays out of the RSS figure.
        fork = multiprocessing.get_context("fork")
        child = fork.Process(target=build, args=(backend, args.cases))
        child.start()
        child.join()
        if child.exitcode != 0:
            sys.exit("building the database failed")
        print(f"built {args.cases:,} cases of 16 events in {time.perf_counter() - began:.1f} s")
        count, good, took, grew = engine_run(backend.url)
        if count != args.cases or good != count:
            sys.exit(f"the engine verified {good} of {count} cases ok; expected {args.cases}")
        with Engine(backend.url) as engine:
            floor_count, floor_good, floor_took = floor_run(backend, engine.ctx.ledger)
        if (floor_count, floor_good) != (count, count):
            sys.exit(f"the floor read {floor_count} cases, {floor_good} ok; expected {count}")
        figure, floor = count / took, count / floor_took
        print(f"engine: Engine.verify_iter, {figure:,.0f} cases/s ({took:.1f} s)")
        print(f"floor:  bare driver, hashes only, {floor:,.0f} cases/s ({floor_took:.1f} s)")
        print(f"peak RSS growth while the engine verified: {grew:.1f} MB")
        print(f"ratio: {figure / floor:.2f}")


if __name__ == "__main__":
    main()
