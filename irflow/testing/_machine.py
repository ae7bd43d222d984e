"""What both property machines share: the engine and its clock, the sweeps of the
escalation rungs, the invariants of every flow's cases, and the snapshot that a
refused command is compared with."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import text

from irflow.engine.facade import Engine
from irflow.engine.flow import Flow
from irflow.engine.rules import SYSTEM, Viewer
from irflow.engine.views import CaseView
from irflow.errors import IrflowError
from irflow.notifiers.memory import MemoryNotifier
from irflow.testing._directory import Shared, shared_lists
from irflow.testing._doubles import START, MovableClock
from irflow.testing._strategies import time_steps


@dataclass(frozen=True)
class Snapshot:
    """What a refused command must leave as it was."""

    row: tuple[Any, ...]
    """version, state, flags, steps_done, coordinator_id, last_seq, last_hash, chain,
    chain_at, closed_at (the first seven in the order the phase checks index them)."""
    events: int
    all_cases: int
    all_events: int
    all_outbox: int
    deadlines: tuple[tuple[Any, ...], ...]


_SNAPSHOT_ROW = text(
    "SELECT version, state, flags, steps_done, coordinator_id, last_seq, last_hash, "
    "chain, chain_at, closed_at FROM irflow_case WHERE id = :id"
)
_SNAPSHOT_EVENTS = text("SELECT count(*) FROM timeline_event WHERE case_id = :id")
_SNAPSHOT_TOTALS = text(
    "SELECT (SELECT count(*) FROM irflow_case), (SELECT count(*) FROM timeline_event), "
    "(SELECT count(*) FROM outbox), (SELECT count(*) FROM deadline)"
)
_SNAPSHOT_DEADLINES = text(
    "SELECT step, rung, action, opened_at, deadline_at, due_at, fired_at FROM deadline "
    "WHERE case_id = :id ORDER BY step, rung"
)


class FlowMachine(RuleBasedStateMachine):
    """Random commands on cases of one flow, with the engine's invariants checked.

    Make one with ``flow_state_machine(flow, url)``, which picks the machine for
    the flow's shape (``PhaseFlowMachine`` or ``StateFlowMachine``); the class
    attributes below are what that function sets, and a subclass may override them.
    This base holds what both share: the engine, the clock and its sweeps, and the
    snapshot a refused command is compared with.
    """

    flow: ClassVar[Flow]
    """The flow under test; the engine runs it as its only flow."""
    url: ClassVar[str | None] = None
    """The database; None means a SQLite file in a temporary folder."""
    max_cases: ClassVar[int] = 3
    """How many cases one example opens at most."""
    _shared: ClassVar[Shared | None] = None

    # ------------------------------------------------------------ set-up

    @classmethod
    def shared(cls) -> Shared:
        """The engine (initialised once) and the directory lists all examples use."""
        if cls._shared is None:
            tmpdir = None
            url = cls.url
            if url is None:
                tmpdir = tempfile.TemporaryDirectory(prefix="irflow-testing-")
                url = f"sqlite:///{tmpdir.name}/irflow.db"
            clock = MovableClock()
            # A notifier besides the site, so that every notice queues a message even
            # where the flow names no site category.
            engine = Engine(url, clock=clock, flows=[cls.flow], notifiers=[MemoryNotifier()])
            engine.init()
            engine.flows()
            cls._shared = shared_lists(cls.flow, engine, clock, tmpdir)
        return cls._shared

    @classmethod
    def close(cls) -> None:
        """Dispose of the engine's connections (and the temporary folder, if any)."""
        if cls._shared is not None:
            cls._shared.engine.close()
            if cls._shared.tmpdir is not None:
                cls._shared.tmpdir.cleanup()
            cls._shared = None

    def __init__(self) -> None:
        super().__init__()
        shared = self.shared()
        self.engine = shared.engine
        self.clock = shared.clock
        # Every example starts at the same moment: deadlines count working days, and
        # hypothesis replays an example to shrink it, which must go as it went.
        self.clock.set(START)
        self.dir = shared
        self.cases: list[int] = []
        self.touched: set[int] = set()

    # ------------------------------------------------------------ time

    @precondition(lambda self: bool(self.cases))
    @rule()
    def sweep(self) -> None:
        """The engine fires every escalation rung that has fallen due by the clock."""
        now = self.clock.now()
        fired = self.engine.sweep()
        for rung in fired:
            assert rung.due_at <= now, f"a rung due at {rung.due_at} fired at {now}"
            if rung.case_id in self.cases:
                self.touched.add(rung.case_id)
                event = self.engine.timeline(rung.case_id, viewer=SYSTEM)[rung.seq - 1]
                assert (event.action, event.step, event.actor) == ("escalated", rung.step, None)
        assert not self.engine.sweep(), "a second sweep at the same moment fired again"
        for case_id in self.cases:
            deadlines = self.engine.deadlines(case_id, viewer=SYSTEM)
            late = [d for d in deadlines if d.fired_at is None and d.due_at <= now]
            assert not late, f"the sweep left rungs of case {case_id} due and unfired: {late}"

    @rule(delta=time_steps())
    def move_clock(self, delta: timedelta) -> None:
        """Time passes between commands."""
        self.clock.advance(delta)

    # ------------------------------------------------------------ invariants

    @invariant()
    def touched_cases_are_sound(self) -> None:
        """After each command, the cases it touched pass every check."""
        for case_id in sorted(self.touched):
            self.check_case(case_id)
        self.touched.clear()

    def teardown(self) -> None:
        for case_id in self.cases:
            self.check_case(case_id)

    def check_case(self, case_id: int) -> CaseView:
        """The invariants of every flow's cases: the state is declared, the timeline
        replays to it, the hash chain verifies, and each command added one event and
        one version. Each machine extends this with its flow shape's own checks."""
        view = self.engine.case(case_id, viewer=self.viewer(case_id))
        assert view.state in self.flow.states, (
            f"case {case_id} is in undeclared state {view.state!r}"
        )
        replayed = self.engine.replay(case_id, viewer=SYSTEM)
        assert replayed == view.state, f"case {case_id} replays to {replayed}, is {view.state}"
        (report,) = self.engine.verify(case_id, viewer=SYSTEM)
        assert report.ok, f"case {case_id}'s hash chain is broken: {report}"
        assert [e.seq for e in view.timeline] == list(range(1, len(view.timeline) + 1))
        assert view.version == len(view.timeline), "every command adds one event and one version"
        return view

    def viewer(self, case_id: int) -> Viewer:
        """Who looks at the case in the checks (``SYSTEM`` unless a machine says)."""
        return SYSTEM

    # ------------------------------------------------------------ snapshots

    def _totals(self) -> tuple[int, int, int, int]:
        """How many cases, timeline events, outbox messages and deadline rows there are."""
        with self.engine.sa.connect() as conn:
            row = conn.execute(_SNAPSHOT_TOTALS).one()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    def _snapshot(self, case_id: int) -> Snapshot:
        with self.engine.sa.connect() as conn:
            row = tuple(conn.execute(_SNAPSHOT_ROW, {"id": case_id}).one())
            events = int(conn.execute(_SNAPSHOT_EVENTS, {"id": case_id}).scalar_one())
            totals = conn.execute(_SNAPSHOT_TOTALS).one()
            deadlines = tuple(
                tuple(d) for d in conn.execute(_SNAPSHOT_DEADLINES, {"id": case_id}).all()
            )
        return Snapshot(row, events, int(totals[0]), int(totals[1]), int(totals[2]), deadlines)

    def _check_unchanged(self, case_id: int, before: Snapshot) -> None:
        after = self._snapshot(case_id)
        assert after == before, f"a refused command changed case {case_id}: {before} -> {after}"


_T = TypeVar("_T")


def attempt(command: Callable[[], _T]) -> _T | IrflowError:
    """What a command returned, or the ``IrflowError`` it was refused with."""
    try:
        return command()
    except IrflowError as exc:
        return exc
