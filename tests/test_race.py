"""Race: four `irflow run` daemons sweep one PostgreSQL database, one is killed mid-sweep,
and still every due rung fires exactly once, in order, with every chain intact.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from irflow.engine.directory import OrgType
from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from tests.conftest import PG_ENV, pg_base_url, pg_schema

CASES = 150
RUNGS = 3 * CASES  # detect_anomaly's remind, notify and mark_overdue
WORKERS = 4
IRFLOW_RUN = ("run", "--sweep-every", "0.5")
#: From a case's opening to its last rung: detect_anomaly's 30m deadline, then 2h.
LAST_RUNG = timedelta(minutes=30) + timedelta(hours=2)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema of its own (dropped afterwards), as a database URL."""
    base = pg_base_url()
    if base is None:
        pytest.skip(f"the race needs PostgreSQL; set {PG_ENV}=postgresql://USER@HOST/DB")
    with pg_schema(base, "irflow_race") as url:
        yield url


class Daemon:
    """One `irflow run --sweep-every 0.5` child process, its logs in files."""

    def __init__(self, url: str, folder: Path, number: int) -> None:
        env = {k: v for k, v in os.environ.items() if k != "IRFLOW_NOTIFIERS"}
        env["IRFLOW_DB"] = url
        self.log = folder / f"run{number}.log"
        self._stderr = self.log.open("wb")  # closed by close()
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from irflow.cli.main import main; main()", *IRFLOW_RUN],
            cwd=folder,  # no irflow.toml there: the site is the only channel
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,  # the JSON log lines
        )

    def events(self) -> list[str]:
        """The ``event`` of each JSON log line written so far."""
        found = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                found.append(str(json.loads(line).get("event")))
            except ValueError:
                continue  # a line being written
        return found

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]

    def fired(self) -> int:
        return self.events().count("rung.fired")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._stderr.close()


def _fired(engine: Engine) -> int:
    with engine.sa.connect() as conn:
        found = conn.execute(text("SELECT count(*) FROM deadline WHERE fired_at IS NOT NULL"))
        return int(found.scalar_one())


def _wait(condition: Callable[[], bool], until: float, what: str, daemons: list[Daemon]) -> None:
    """Poll ``condition``; on timeout, or when a daemon died, fail showing their logs."""
    while not condition():
        dead = [d for d in daemons if d.process.poll() not in (None, -signal.SIGKILL)]
        if dead or time.monotonic() > until:
            logs = "\n".join(f"--- {d.log.name}\n{d.tail()}" for d in daemons)
            pytest.fail(
                f"{'a daemon exited' if dead else 'timed out'} waiting until {what}\n{logs}"
            )
        time.sleep(0.01)


@pytest.mark.slow
def test_four_daemons_one_killed_mid_sweep_fire_every_due_rung_exactly_once(
    pg_url: str, tmp_path: Path
) -> None:
    """Four daemons, one SIGKILLed mid-sweep: every due rung fires once, in order, none lost."""
    engine = Engine(pg_url)
    engine.init()
    daemons: list[Daemon] = []
    try:
        reporters = sorted(
            o.id for o in engine.organisations().values() if o.type is OrgType.MUNICIPALITY
        )
        start = datetime.now(UTC)
        # Remind and notify of every case are long due; the mark_overdue rungs fall due
        # over the next seconds, while the daemons run.
        for i in range(CASES):
            last_due = start + timedelta(seconds=2 + 4 * i / CASES)
            engine.open_case(
                reporter=reporters[i % len(reporters)], title=f"競合 {i}", at=last_due - LAST_RUNG
            )
        assert len(engine.deadlines(1, viewer=SYSTEM)) == 3
        limit = time.monotonic() + 60

        daemons = [Daemon(pg_url, tmp_path, n) for n in range(WORKERS)]
        _wait(
            lambda: _fired(engine) >= 30 and any(d.fired() for d in daemons),
            limit,
            "some fired",
            daemons,
        )
        victim = max(daemons, key=Daemon.fired)  # the busiest sweeper: surely mid-sweep
        victim.process.send_signal(signal.SIGKILL)
        fired_at_kill = _fired(engine)
        victim.process.wait(10)
        assert fired_at_kill < RUNGS, "every rung had fired before the kill: nothing raced"

        _wait(lambda: _fired(engine) == RUNGS, limit, f"all {RUNGS} rungs fired", daemons)
        survivors = [d for d in daemons if d is not victim]
        for daemon in survivors:
            assert daemon.process.poll() is None, daemon.tail()
            daemon.process.send_signal(signal.SIGTERM)
        for daemon in survivors:
            assert daemon.process.wait(15) == 0, daemon.tail()
            assert {"irflow.started", "irflow.stopping", "irflow.stopped"} <= set(daemon.events())
        assert victim.process.returncode == -signal.SIGKILL
    finally:
        for daemon in daemons:
            daemon.close()

    try:
        with engine.sa.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT case_id, seq, step, at, payload FROM timeline_event "
                    "WHERE action = 'escalated' ORDER BY case_id, seq"
                )
            ).all()
        per_rung = Counter((r.case_id, r.step, json.loads(r.payload)["rung"]) for r in rows)
        expected = {(c, "detect_anomaly", n) for c in range(1, CASES + 1) for n in (1, 2, 3)}
        assert set(per_rung) == expected  # none lost
        assert [k for k, n in per_rung.items() if n != 1] == []  # none twice
        by_case: dict[int, list[int]] = {}
        for r in rows:
            payload = json.loads(r.payload)
            by_case.setdefault(r.case_id, []).append(payload["rung"])
            assert r.at >= datetime.fromisoformat(payload["due_at"])  # never early
        assert {tuple(v) for v in by_case.values()} == {(1, 2, 3)}  # each case's in order
        reports = engine.verify(viewer=SYSTEM)
        assert len(reports) == CASES
        assert [r.case_id for r in reports if not r.ok] == []
        escalations = [r for r in engine.outbox() if r.kind == "escalation"]
        assert len(escalations) == 2 * CASES  # remind and notify, each one site post
        assert len({(r.case_id, r.event_seq) for r in escalations}) == 2 * CASES
    finally:
        engine.close()
