"""Test doubles for code that embeds irflow, and property tests for any flow file.

- ``MovableClock``: a clock that a test moves by hand (``advance``, ``set``).
- ``MemoryNotifier``: the in-memory notifier (from ``irflow.notifiers.memory``),
  re-exported here beside the other doubles.
- hypothesis strategies: ``moments()``, ``time_steps()``, ``case_kinds(flow)``,
  ``notes()``.
- ``flow_state_machine(flow)``: a hypothesis ``RuleBasedStateMachine`` that drives
  the real ``Engine`` with random commands on cases of ``flow`` and checks the
  engine's invariants after each one. A flow of phases and steps (incident,
  mislink) gets a ``PhaseFlowMachine``, a flow of states and actions (inquiry) a
  ``StateFlowMachine``; both are ``FlowMachine`` classes.

Property-testing a flow of your own takes a few lines; pytest collects
``TestMyFlow`` like any other test::

    from pathlib import Path

    from hypothesis import settings

    from irflow import load_flow_file
    from irflow.testing import flow_state_machine

    MyFlow = flow_state_machine(load_flow_file(Path("flows/my_flow.yaml")))
    TestMyFlow = MyFlow.TestCase
    TestMyFlow.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)

Without a URL the machine works on a fresh SQLite file in a temporary folder, one
per machine class, shared by every example (the cases of one example are new
cases, independent of the others). Pass ``url="postgresql://USER@HOST/DB"`` to run
the same checks on PostgreSQL; the machine runs ``Engine.init`` there and adds
cases, so give it a database (or schema) for tests. Inside a pytest test, with a
database URL from a fixture::

    from hypothesis.stateful import run_state_machine_as_test

    def test_my_flow(tmp_path):
        machine = flow_state_machine(my_flow, f"sqlite:///{tmp_path}/flow.db")
        try:
            run_state_machine_as_test(machine, settings=settings(deadline=None))
        finally:
            machine.close()

What the machine does on a flow of phases, at random: opens cases with kinds the
flow takes (and sometimes kinds it does not, or reporters that cannot report) for
reporters from the directory; completes steps by the right participant, declaring
the flow's flags on the way; fires any step as any actor (participants and
outsiders), with and without a stale ``expect_version``; reassigns coordinators;
asks for the contact plans of open steps (``Engine.contacts``); moves the clock
and sweeps the escalation rungs that fell due (``Engine.sweep``).

What it checks, after every command:

- the case's state is one the flow declares, and it never moves back;
- a refused command (any ``IrflowError``) changed nothing: not the case row (its
  version, state, flags, steps, coordinator, chain, last hash), not the number of
  cases, timeline events or outbox messages, not the case's deadlines; anything
  else raised is a failure;
- an actor who is not a participant, or whose roles do not include the step's
  tier, is refused with ``NotAllowed``, whatever the step's state; a stale
  ``expect_version`` never succeeds; a step is never done twice;
- a command that succeeded wrote exactly one event and raised the version by one;
- the timeline replays (``Engine.replay``) to the stored state, and every hash
  chain verifies (``Engine.verify``);
- every done step was done by the participant of its tier at that moment (the
  coordinator may have been reassigned since); a closed case has every step it
  requires done; a case that is not closed has a required step open, so it can
  always move on;
- a sweep fires only rungs that are due, each once, and only for steps not done,
  and leaves none of the example's rungs due and unfired;
- the case keeps escalation deadlines for exactly its open required steps that
  have one, each with its whole ladder.

What the machine does on a flow of states and actions (with a ``chain:`` of
reception tiers, like the inquiry), at random: opens cases (asks) by
organisations that can ask and some that cannot, with and without the flow's
confirmations, with notes or none; fires any action of the flow (and one it does
not have) by chain members and outsiders, with any note (empty too), any moment
and any ``expect_version``, and mostly the action the case is waiting for by the
link that may do it, so that cases go all the way up the chain and back; looks
at cases (``Engine.case``, ``Engine.cases``) and runs the other commands
(``contacts``, ``declare``, ``assign_coordinator``) as members and outsiders;
moves the clock and sweeps.

What it checks there: the same for states, refusals, versions, replay and hash
chains, and a model of the flow file decides every command up front (who may do
an action, from which state, whether ``only_if`` and ``needs_note`` allow it,
how the holder moves and which target state it leads to): the engine must do
exactly that, or refuse exactly then. After every command the case's chain is
its asker followed by successive reception tiers without repeats, the holder is
a link of it, every action on the timeline was done by the link that could do
it then, each action that tells the holder queued its messages (one per channel)
to the new holder only, each rung fired told the holder (remind) or its reception
tier (notify; a tier not yet in the chain joins it), and the case has deadline
rows exactly for its current state if that state has a duty (each with its whole
ladder, from the moment the state was entered).
A case of a private flow (``visibility: participants``) is shown to its chain
members by ``case(viewer=)`` and ``cases(viewer=)``, and to nobody else: an
outsider (and a caller naming no viewer) gets ``NotFound`` with the very message
of a missing case, from ``case`` and from every command.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar, cast

from sqlalchemy import text

try:
    from hypothesis import note as hypothesis_note
    from hypothesis import strategies as st
    from hypothesis.stateful import (
        RuleBasedStateMachine,
        initialize,
        invariant,
        precondition,
        rule,
    )
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "irflow.testing needs hypothesis; install irflow with its test extras: "
        "pip install 'irflow[test]'"
    ) from exc

from irflow.clock import JST, as_aware
from irflow.engine.directory import COORDINATOR_TYPES, Organisation, OrgType
from irflow.engine.facade import Engine
from irflow.engine.flow import CLOSED, CaseFacts, Flow
from irflow.engine.recorder import Advanced
from irflow.engine.timeline import Event
from irflow.engine.views import CaseView
from irflow.errors import IrflowError, NotAllowed, NotFound
from irflow.notifiers.memory import MemoryNotifier

__all__ = [
    "FlowMachine",
    "MemoryNotifier",
    "MovableClock",
    "PhaseFlowMachine",
    "StateFlowMachine",
    "case_kinds",
    "flow_state_machine",
    "moments",
    "notes",
    "time_steps",
]


# --------------------------------------------------------------------------- clock


class MovableClock:
    """A ``Clock`` that stands still until a test moves it.

    Moments are timezone-aware; a naive moment given to the constructor or to
    ``set`` is Japan time. The default start, 2026-04-01 10:00 in Japan, is a
    weekday inside every contact window.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = as_aware(start) if start is not None else datetime(2026, 4, 1, 10, tzinfo=JST)

    def now(self) -> datetime:
        """The clock's current moment."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock by ``delta`` (backwards if negative); return the new moment."""
        self._now = self._now + delta
        return self._now

    def set(self, moment: datetime) -> None:
        """Put the clock at ``moment`` (naive means Japan time)."""
        self._now = as_aware(moment)

    def __repr__(self) -> str:
        return f"MovableClock({self._now.isoformat()})"


# --------------------------------------------------------------------------- strategies

_OFFSETS = (JST, UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=45)))


def moments(
    min_value: datetime = datetime(2017, 1, 1),
    max_value: datetime = datetime(2040, 12, 31, 23, 59, 59),
) -> st.SearchStrategy[datetime]:
    """Timezone-aware moments between two naive bounds, in Japan time, UTC and other offsets."""
    return st.datetimes(
        min_value=min_value, max_value=max_value, timezones=st.sampled_from(_OFFSETS)
    )


def time_steps(max_value: timedelta = timedelta(days=3)) -> st.SearchStrategy[timedelta]:
    """Non-negative durations, from a microsecond to ``max_value``, to move a clock by."""
    return st.timedeltas(min_value=timedelta(0), max_value=max_value)


def case_kinds(flow: Flow) -> st.SearchStrategy[tuple[str, ...]]:
    """Kinds a case of ``flow`` may be opened with (empty means the flow's default kind).

    A flow that a kind selects (``selected_by``) always gets that kind.
    """
    chosen = st.lists(st.sampled_from(flow.spec.kinds), unique=True, max_size=len(flow.spec.kinds))
    selected_by = flow.spec.selected_by
    if selected_by is None:
        return chosen.map(lambda ks: tuple(sorted(ks)))
    return chosen.map(lambda ks: tuple(sorted({selected_by, *ks})))


_NOTE_ALPHABET = "ab Z09-@._\n\t\"'\\事象発生報告、。（）ｱ\u3000\U0001f4e7"


def notes() -> st.SearchStrategy[str | None]:
    """What a person may type as a step's note: nothing, or short free text.

    The alphabet is small on purpose (ASCII, Japanese, full-width and astral
    characters, quotes, backslash, whitespace): hypothesis builds a full Unicode
    alphabet slowly, and the engine treats a note as opaque text.
    """
    return st.none() | st.text(alphabet=_NOTE_ALPHABET, max_size=40)


# --------------------------------------------------------------------------- the machine

# --------------------------------------------------------------------------- the machines


@dataclass
class _Shared:
    """What every example of one machine class reuses: the engine and the directory."""

    engine: Engine
    clock: MovableClock
    reporters: list[str]
    """Organisations that can open a case without naming a coordinator."""
    has_default_coordinator: set[str]
    unusual_reporters: list[str]
    """Reporters that need a coordinator named, cannot report at all, or do not exist."""
    coordinators: list[str]
    """Every organisation a case may be opened with as its coordinator."""
    assignable: list[str]
    """Organisations a coordinator may be reassigned to, and some that may not be."""
    outsiders: list[str]
    askers: list[str]
    """Organisations that can open a case of a chain flow (they have a reception tier),
    a few of each type that can; for a flow without a chain, the reporters."""
    cannot_ask: list[str]
    """Organisations that cannot open a case of a chain flow, and one that does not exist."""
    everyone: list[str]
    """A spread of the directory, every type: who may look at, or act on, any case."""
    tmpdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Snapshot:
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

_UNKNOWN_ORG = "no-such-organisation"
_START = datetime(2026, 4, 1, 10, tzinfo=JST)


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
    _shared: ClassVar[_Shared | None] = None

    # ------------------------------------------------------------ set-up

    @classmethod
    def shared(cls) -> _Shared:
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
            cls._shared = _shared_lists(cls.flow, engine, clock, tmpdir)
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
        self.clock.set(_START)
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
                event = self.engine.timeline(rung.case_id)[rung.seq - 1]
                assert (event.action, event.step, event.actor) == ("escalated", rung.step, None)
        assert not self.engine.sweep(), "a second sweep at the same moment fired again"
        for case_id in self.cases:
            deadlines = self.engine.deadlines(case_id)
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
        replayed = self.engine.replay(case_id)
        assert replayed == view.state, f"case {case_id} replays to {replayed}, is {view.state}"
        (report,) = self.engine.verify(case_id)
        assert report.ok, f"case {case_id}'s hash chain is broken: {report}"
        assert [e.seq for e in view.timeline] == list(range(1, len(view.timeline) + 1))
        assert view.version == len(view.timeline), "every command adds one event and one version"
        return view

    def viewer(self, case_id: int) -> str | None:
        """Who looks at the case in the checks (None: a flow visible to anyone)."""
        return None

    # ------------------------------------------------------------ snapshots

    def _totals(self) -> tuple[int, int, int, int]:
        """How many cases, timeline events, outbox messages and deadline rows there are."""
        with self.engine.sa.connect() as conn:
            row = conn.execute(_SNAPSHOT_TOTALS).one()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    def _snapshot(self, case_id: int) -> _Snapshot:
        with self.engine.sa.connect() as conn:
            row = tuple(conn.execute(_SNAPSHOT_ROW, {"id": case_id}).one())
            events = int(conn.execute(_SNAPSHOT_EVENTS, {"id": case_id}).scalar_one())
            totals = conn.execute(_SNAPSHOT_TOTALS).one()
            deadlines = tuple(
                tuple(d) for d in conn.execute(_SNAPSHOT_DEADLINES, {"id": case_id}).all()
            )
        return _Snapshot(row, events, int(totals[0]), int(totals[1]), int(totals[2]), deadlines)

    def _check_unchanged(self, case_id: int, before: _Snapshot) -> None:
        after = self._snapshot(case_id)
        assert after == before, f"a refused command changed case {case_id}: {before} -> {after}"


class PhaseFlowMachine(FlowMachine):
    """The machine for a flow of phases and steps (incident, mislink)."""

    # ------------------------------------------------------------ opening cases

    @initialize(data=st.data())
    def open_first_case(self, data: st.DataObject) -> None:
        """Every example starts with one case a municipality or prefecture opens."""
        self._open_valid(data)

    @precondition(lambda self: len(self.cases) < self.max_cases)
    @rule(data=st.data())
    def open_case(self, data: st.DataObject) -> None:
        """Another valid case, which the engine must accept."""
        self._open_valid(data)

    def _open_valid(self, data: st.DataObject) -> None:
        if not self.dir.reporters:
            raise AssertionError(
                "the directory has no municipality or prefecture with a default coordinator; "
                "the machine needs one to open cases"
            )
        reporter = data.draw(st.sampled_from(self.dir.reporters), label="reporter")
        kinds = data.draw(case_kinds(self.flow), label="kinds")
        before = self._totals()
        done = self.engine.open_case(reporter=reporter, title="property test", kinds=kinds)
        self._check_opened(done, reporter, kinds, before)

    @precondition(lambda self: len(self.cases) < self.max_cases)
    @rule(data=st.data())
    def open_any_case(self, data: st.DataObject) -> None:
        """A case with any reporter, kinds, coordinator and title: accepted or refused whole."""
        reporter = data.draw(
            st.sampled_from(self.dir.reporters) | st.sampled_from(self.dir.unusual_reporters),
            label="reporter",
        )
        usual = st.sampled_from([True, True, True, False])
        if data.draw(usual, label="usual kinds"):
            kinds: Sequence[str] = data.draw(case_kinds(self.flow), label="kinds")
        else:
            kinds = data.draw(
                st.lists(st.sampled_from([*self.flow.spec.kinds, "no_such_kind"])), label="kinds"
            )
        if data.draw(usual, label="usual coordinator"):
            # Name a coordinator where the directory gives none, as a person would.
            coordinator = (
                None
                if reporter in self.dir.has_default_coordinator
                else data.draw(st.sampled_from(self.dir.coordinators), label="coordinator")
            )
        else:
            coordinator = data.draw(
                st.none() | st.sampled_from([*self.dir.coordinators, reporter, _UNKNOWN_ORG]),
                label="coordinator",
            )
        title = "property test"
        if not data.draw(usual, label="usual title"):
            title = data.draw(st.sampled_from(["", "  "]), label="title")
        at = data.draw(st.none() | moments(), label="at")
        before = self._totals()
        try:
            done = self.engine.open_case(
                reporter=reporter, title=title, kinds=kinds, coordinator=coordinator, at=at
            )
        except IrflowError as exc:
            hypothesis_note(f"open refused: {type(exc).__name__}: {exc}")
            assert self._totals() == before, "a refused open_case wrote something"
            return
        assert title.strip(), "a case was opened without a title"
        self._check_opened(done, reporter, kinds, before)

    def _check_opened(
        self, done: Advanced, reporter: str, kinds: Sequence[str], before: tuple[int, ...]
    ) -> None:
        self.cases.append(done.case_id)
        self.touched.add(done.case_id)
        view = self.engine.case(done.case_id)
        assert view.flow == self.flow.name, f"case opened under {view.flow}, not {self.flow.name}"
        assert view.state == self.flow.states[0] == done.state
        assert view.version == done.version == 1
        assert view.reporter.id == self.engine.organisation(reporter).id
        assert view.kinds == sorted(set(kinds) or {self.flow.spec.default_kind})
        assert [e.action for e in view.timeline] == ["opened"]
        assert self._totals()[:2] == (before[0] + 1, before[1] + 1)

    # ------------------------------------------------------------ commands on cases

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def do_open_steps(self, data: st.DataObject) -> None:
        """Complete open steps of one case by the right participant, maybe declaring flags."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        view = self.engine.case(case_id)
        for _ in range(data.draw(st.integers(1, 12), label="how many")):
            open_steps = [s for s in view.steps if s.status == "open"]
            if not open_steps:
                break
            step = data.draw(st.sampled_from(open_steps), label="step")
            actor = {
                "reporter": view.reporter.id,
                "coordinator": view.coordinator.id,
                "operator": view.operator.id,
            }[step.tier]
            own_flags = sorted(
                f for f, spec in self.flow.spec.flags.items() if spec.declared_by == step.tier
            )
            declare = data.draw(
                st.just([]) if not own_flags else st.lists(st.sampled_from(own_flags), max_size=1),
                label="declare",
            )
            before = self._snapshot(case_id)
            # The right participant, now or later than the case's latest event: this
            # command must go through (a command dated earlier is refused by design).
            moment = max(self.clock.now(), view.timeline[-1].at)
            try:
                result = self.engine.advance(
                    case_id,
                    step.id,
                    actor=actor,
                    declare=declare,
                    note=data.draw(notes(), label="note"),
                    expect_version=data.draw(st.sampled_from([None, view.version])),
                    at=moment,
                )
            except IrflowError as exc:
                hypothesis_note(f"open step {step.id} refused: {type(exc).__name__}: {exc}")
                self._check_unchanged(case_id, before)
                if not declare:
                    raise AssertionError(f"{actor} could not do open step {step.id!r}") from exc
                continue
            self._check_advanced(case_id, before, result, step.id, actor)
            view = self.check_case(case_id)

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def fire_any_step(self, data: st.DataObject) -> None:
        """Any step (or a made-up one) as any actor, with any flags and any expected version."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        participants = self._participants(case_id)
        step_id = data.draw(st.sampled_from([*self.flow.steps, "no_such_step"]), label="step")
        actor = data.draw(
            st.sampled_from(list(participants.values()))
            | st.sampled_from([*self.dir.outsiders, _UNKNOWN_ORG]),
            label="actor",
        )
        declare = data.draw(
            st.lists(st.sampled_from([*self.flow.spec.flags, "no_such_flag"]), max_size=2),
            label="declare",
        )
        before = self._snapshot(case_id)
        version = before.row[0]
        expect = data.draw(
            st.sampled_from([None, version, version - 1, version + 1]), label="expect_version"
        )
        try:
            result = self.engine.advance(
                case_id,
                step_id,
                actor=actor,
                declare=declare,
                expect_version=expect,
                note=data.draw(notes(), label="note"),
                at=data.draw(st.none() | moments()),
            )
        except IrflowError as exc:
            hypothesis_note(f"{step_id} by {actor} refused: {type(exc).__name__}: {exc}")
            self._check_unchanged(case_id, before)
            self._check_refusal(exc, step_id, actor, participants)
            return
        finally:
            self.touched.add(case_id)
        assert step_id in self.flow.steps
        assert actor != _UNKNOWN_ORG
        step = self.flow.steps[step_id]
        assert participants[step.tier] == actor, (
            f"{actor} did step {step_id!r} of tier {step.tier}, whose participant is "
            f"{participants[step.tier]}"
        )
        assert expect in (None, version), f"a stale expect_version {expect} was accepted"
        self._check_advanced(case_id, before, result, step_id, actor)

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def assign_coordinator(self, data: st.DataObject) -> None:
        """Reassign a case's coordinator, by any actor, to anyone."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        participants = self._participants(case_id)
        actor = data.draw(
            st.sampled_from([participants["operator"], participants["coordinator"]])
            | st.sampled_from([participants["reporter"], *self.dir.outsiders]),
            label="actor",
        )
        target = data.draw(
            st.sampled_from(self.dir.assignable) | st.sampled_from(list(participants.values())),
            label="coordinator",
        )
        before = self._snapshot(case_id)
        version = before.row[0]
        expect = data.draw(
            st.sampled_from([None, None, version, version - 1]), label="expect_version"
        )
        try:
            result = self.engine.assign_coordinator(
                case_id, coordinator=target, actor=actor, expect_version=expect
            )
        except IrflowError as exc:
            hypothesis_note(f"assign {target} by {actor} refused: {type(exc).__name__}: {exc}")
            self._check_unchanged(case_id, before)
            if actor not in (participants["operator"], participants["coordinator"]) and not (
                isinstance(exc, NotAllowed)
            ):
                raise AssertionError(
                    f"{actor} (neither operator nor coordinator) got {type(exc).__name__}, "
                    "not NotAllowed"
                ) from exc
            return
        finally:
            self.touched.add(case_id)
        assert actor in (participants["operator"], participants["coordinator"])
        assert expect in (None, version), f"a stale expect_version {expect} was accepted"
        after = self._snapshot(case_id)
        assert after.row[0] == version + 1 == result.version
        assert after.row[1] == before.row[1], "reassigning the coordinator moved the state"
        assert after.row[4] == target != participants["reporter"]
        assert after.events == before.events + 1
        assert result.event.action == "coordinator_assigned"
        assert dict(result.event.payload) == {"from": participants["coordinator"], "to": target}

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def show_contacts(self, data: st.DataObject) -> None:
        """Ask for the contact plans of one's open steps, which records them on the timeline."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        view = self.engine.case(case_id)
        participants = {
            "reporter": view.reporter.id,
            "coordinator": view.coordinator.id,
            "operator": view.operator.id,
        }
        # Mostly someone with an open step (whose contacts there are to show).
        owners = sorted({participants[s.tier] for s in view.steps if s.status == "open"})
        actor = data.draw(
            st.sampled_from(owners or list(participants.values()))
            | st.sampled_from([*participants.values(), *self.dir.outsiders]),
            label="actor",
        )
        before = self._snapshot(case_id)
        try:
            shown = self.engine.contacts(case_id, actor=actor, at=data.draw(st.none() | moments()))
        except IrflowError as exc:
            hypothesis_note(f"contacts for {actor} refused: {type(exc).__name__}: {exc}")
            self._check_unchanged(case_id, before)
            if actor not in participants.values() and not isinstance(exc, NotAllowed):
                raise AssertionError(f"outsider {actor} got {type(exc).__name__}") from exc
            return
        finally:
            self.touched.add(case_id)
        assert actor in participants.values(), f"outsider {actor} was shown contacts"
        if not shown:
            self._check_unchanged(case_id, before)
            return
        roles = {role for role, who in participants.items() if who == actor}
        steps = {s.id: s for s in view.steps}
        for contact in shown:
            step = steps[contact.step]
            assert step.status == "open", f"contacts shown for step {step.id} ({step.status})"
            assert step.tier in roles, f"{actor} was shown contacts for a {step.tier} step"
        after = self._snapshot(case_id)
        assert after.row[0] == before.row[0] + 1
        assert after.row[1] == before.row[1], "showing contacts moved the state"
        assert after.row[3] == before.row[3], "showing contacts changed the steps done"
        assert after.events == before.events + 1
        assert self.engine.timeline(case_id)[-1].action == "contacts_shown"

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def declare_flag(self, data: st.DataObject) -> None:
        """Declare a flag (or no flag the flow has) on a case, by anyone, outside any step."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        participants = self._participants(case_id)
        flag = data.draw(st.sampled_from([*self.flow.spec.flags, "no_such_flag"]), label="flag")
        actor = data.draw(
            st.sampled_from([*participants.values(), *self.dir.outsiders]), label="actor"
        )
        view = self.engine.case(case_id)
        before = self._snapshot(case_id)
        try:
            result = self.engine.declare(
                case_id, flag, actor=actor, at=max(self.clock.now(), view.timeline[-1].at)
            )
        except IrflowError as exc:
            hypothesis_note(f"declare {flag} by {actor} refused: {type(exc).__name__}: {exc}")
            self._check_unchanged(case_id, before)
            if actor not in participants.values() and not isinstance(exc, NotAllowed):
                raise AssertionError(f"outsider {actor} got {exc!r}") from exc
            return
        finally:
            self.touched.add(case_id)
        spec = self.flow.spec.flags[flag]
        assert participants[spec.declared_by] == actor, f"{actor} declared {flag}"
        after = self._snapshot(case_id)
        assert after.row[0] == before.row[0] + 1 == result.version
        assert after.row[1] == before.row[1], "declaring a flag moved the state"
        assert after.events == before.events + 1
        assert result.event.action == "flag_declared"

    # ------------------------------------------------------------ invariants

    def check_case(self, case_id: int) -> CaseView:
        """State declared, replay equals state, chain verifies, steps done by the right tier,
        and deadlines kept for exactly the open steps the case needs."""
        flow = self.flow
        view = super().check_case(case_id)

        # Who was the participant of each tier when each step was done?
        opened = view.timeline[0].payload
        participants = {t: str(opened[t]) for t in ("reporter", "coordinator", "operator")}
        done_by: dict[str, str | None] = {}
        last_index = 0
        for event in view.timeline[1:]:
            if event.action == "coordinator_assigned":
                participants["coordinator"] = str(event.payload["to"])
            elif event.action == "escalated":
                assert event.step not in done_by, f"step {event.step!r} escalated after it was done"
                assert event.from_state == event.to_state != CLOSED
            elif event.action == "step_completed" and event.step is not None:
                step = flow.steps[event.step]
                assert event.actor == participants[step.tier], (
                    f"step {step.id!r} of tier {step.tier} was done by {event.actor}, "
                    f"not by the {step.tier} {participants[step.tier]}"
                )
                assert event.step not in done_by, f"step {event.step!r} was done twice"
                done_by[event.step] = event.actor
                assert event.to_state is not None
                assert event.from_state is not None
                assert flow.phase_index[event.to_state] >= flow.phase_index[event.from_state]
                assert flow.phase_index[event.to_state] >= last_index, "the state moved back"
                last_index = flow.phase_index[event.to_state]
        assert participants["coordinator"] == view.coordinator.id

        for s in view.steps:
            assert (s.status == "done") == (s.id in done_by), f"step {s.id!r} status {s.status}"
            if s.status == "done":
                assert s.done_by == done_by[s.id]
        # Deadlines: exactly the open steps the case needs, each with its whole ladder.
        needed = {
            s.id
            for s in view.steps
            if s.required and s.status == "open" and flow.steps[s.id].deadline is not None
        }
        rungs: dict[str, set[int]] = {}
        for d in view.deadlines:
            rungs.setdefault(d.step, set()).add(d.rung)
        assert set(rungs) == needed, (
            f"case {case_id} has deadlines for {sorted(rungs)}, its open required steps "
            f"with deadlines are {sorted(needed)}"
        )
        for step_id, numbers in rungs.items():
            assert numbers == {r.number for r in flow.steps[step_id].ladder}
        if view.state == CLOSED:
            assert view.closed_at is not None
            missing = [s.id for s in view.steps if s.required and s.status != "done"]
            assert not missing, f"closed case {case_id} has required steps not done: {missing}"
        else:
            assert view.closed_at is None
            assert any(s.required and s.status == "open" for s in view.steps), (
                f"case {case_id} in state {view.state!r} has no required step open: it is stuck"
            )
        return view

    # ------------------------------------------------------------ helpers

    def _participants(self, case_id: int) -> dict[str, str]:
        view = self.engine.case(case_id)
        return {
            "reporter": view.reporter.id,
            "coordinator": view.coordinator.id,
            "operator": view.operator.id,
        }

    def _check_advanced(
        self, case_id: int, before: _Snapshot, result: Advanced, step_id: str, actor: str
    ) -> None:
        after = self._snapshot(case_id)
        assert after.row[0] == before.row[0] + 1 == result.version
        assert after.events == before.events + 1
        assert (after.all_cases, after.all_events) == (before.all_cases, before.all_events + 1)
        assert after.row[1] == result.state
        assert self.flow.phase_index[result.state] >= self.flow.phase_index[before.row[1]]
        assert result.event.action == "step_completed"
        assert result.event.step == step_id
        assert result.event.actor == actor

    def _check_refusal(
        self, exc: IrflowError, step_id: str, actor: str, participants: dict[str, str]
    ) -> None:
        """The refusals whose kind the rules fix: NotFound, then NotAllowed, before all else."""
        if step_id not in self.flow.steps or actor == _UNKNOWN_ORG:
            assert isinstance(exc, NotFound), f"expected NotFound, got {exc!r}"
            return
        roles = [role for role, who in participants.items() if who == actor]
        if self.flow.steps[step_id].tier not in roles:
            assert isinstance(exc, NotAllowed), (
                f"{actor} ({'/'.join(roles) or 'outsider'}) doing step {step_id!r} got "
                f"{type(exc).__name__}, not NotAllowed: {exc}"
            )


@dataclass(frozen=True)
class _Held:
    """A case of a state flow as the model sees it: its state and who holds it."""

    state: str
    version: int
    participants: tuple[str, str, str]
    """Reporter (the asker), coordinator, operator."""
    links: tuple[str, ...]
    """The chain, the asker first; empty for a flow without a chain."""
    at: int
    kinds: frozenset[str]
    flags: frozenset[str]
    last_at: datetime
    """The moment of the case's latest event (no command may be dated before it)."""

    @property
    def asker(self) -> str:
        return self.participants[0]

    @property
    def holder(self) -> str:
        return self.links[self.at] if self.links else self.asker

    @property
    def members(self) -> frozenset[str]:
        """Who takes part: the chain's links, or a chainless case's participants."""
        return frozenset(self.links or self.participants)


@dataclass(frozen=True)
class _Moved:
    """Where an action the flow allows takes a case."""

    state: str
    links: tuple[str, ...]
    at: int


#: Why the model expects a command to be refused: an error class the engine must
#: raise (NotFound, NotAllowed), or IrflowError for a refusal of any kind.
_Refusal = type[IrflowError]

_HELD = text(
    "SELECT state, version, reporter_id, coordinator_id, operator_id, chain, chain_at, kinds, "
    "flags, (SELECT at FROM timeline_event WHERE case_id = :id ORDER BY seq DESC LIMIT 1) "
    "FROM irflow_case WHERE id = :id"
)
_OUTBOX = text("SELECT event_seq, recipients FROM outbox WHERE case_id = :id")


class StateFlowMachine(FlowMachine):
    """The machine for a flow of states and actions, most with a chain (inquiry).

    A model of the flow file (``_predict``) decides each command before the engine
    runs it; ``check_case`` replays every case's timeline through the same model.
    """

    # ------------------------------------------------------------ asking

    @initialize(data=st.data())
    def ask_first(self, data: st.DataObject) -> None:
        """Every example starts with one case asked by someone who can ask."""
        self._ask_validly(data)

    @precondition(lambda self: len(self.cases) < self.max_cases)
    @rule(data=st.data())
    def ask(self, data: st.DataObject) -> None:
        """Another valid case, which the engine must accept."""
        self._ask_validly(data)

    def _ask_validly(self, data: st.DataObject) -> None:
        if not self.dir.askers:
            raise AssertionError(f"nobody in the directory can open a case of {self.flow.name}")
        asker = data.draw(
            st.sampled_from(self.dir.askers[:3]) | st.sampled_from(self.dir.askers),
            label="asker",
        )
        kinds = data.draw(case_kinds(self.flow), label="kinds")
        note = data.draw(notes(), label="note")
        confirmed = sorted(self.flow.spec.confirm)
        before = self._totals()
        done = self.engine.open_case(
            reporter=asker, title="property test", kinds=kinds, note=note, confirmed=confirmed
        )
        self._check_asked(done, asker, kinds, note, before)

    @precondition(lambda self: len(self.cases) < self.max_cases)
    @rule(data=st.data())
    def ask_anyhow(self, data: st.DataObject) -> None:
        """A case by anyone, with any confirmations, kinds, note, title and moment."""
        flow = self.flow
        asker = data.draw(
            st.sampled_from(self.dir.askers) | st.sampled_from(self.dir.cannot_ask), label="asker"
        )
        confirmed = data.draw(
            st.sampled_from([sorted(flow.spec.confirm)])
            | st.lists(st.sampled_from([*flow.spec.confirm, "no_such_confirmation"]), unique=True),
            label="confirmed",
        )
        kinds = data.draw(
            case_kinds(flow) | st.lists(st.sampled_from([*flow.spec.kinds, "no_such_kind"])),
            label="kinds",
        )
        # A chain's receivers come from the directory; naming a coordinator is refused.
        coordinator = (
            data.draw(st.none() | st.sampled_from(self.dir.everyone), label="coordinator")
            if flow.is_chain
            else None
        )
        title = data.draw(st.sampled_from(["property test", "property test", "", "  "]))
        note = data.draw(notes(), label="note")
        at = data.draw(st.none() | moments(), label="at")
        before = self._totals()
        done = _attempt(
            lambda: self.engine.open_case(
                reporter=asker,
                title=title,
                kinds=kinds,
                coordinator=coordinator,
                at=at,
                note=note,
                confirmed=confirmed,
            )
        )
        if isinstance(done, IrflowError):
            hypothesis_note(f"ask by {asker} refused: {type(done).__name__}: {done}")
            assert self._totals() == before, "a refused ask wrote something"
            if flow.is_chain:
                assert not self._may_ask(asker, kinds, confirmed, coordinator, title), (
                    f"{asker} could not ask (kinds {kinds}, confirmed {confirmed}): {done!r}"
                )
            return
        if flow.is_chain:
            assert self._may_ask(asker, kinds, confirmed, coordinator, title), (
                f"the engine let {asker} ask (kinds {kinds}, confirmed {confirmed}, "
                f"coordinator {coordinator}, title {title!r})"
            )
        self._check_asked(done, asker, kinds, note, before)

    def _may_ask(
        self,
        asker: str,
        kinds: Sequence[str],
        confirmed: Sequence[str],
        coordinator: str | None,
        title: str,
    ) -> bool:
        """Whether a case of a chain flow may be opened so, by the flow file."""
        spec = self.flow.spec
        chosen = set(kinds)
        kinds_ok = chosen <= set(spec.kinds) and (
            spec.selected_by in chosen if spec.selected_by else True
        )
        return (
            kinds_ok
            and bool(title.strip())
            and coordinator is None
            and set(confirmed) == set(spec.confirm)
            and _reception_tier(self.flow, asker, self.engine.organisations()) is not None
        )

    def _check_asked(
        self,
        done: Advanced,
        asker: str,
        kinds: Sequence[str],
        note: str | None,
        before: tuple[int, ...],
    ) -> None:
        flow = self.flow
        self.cases.append(done.case_id)
        self.touched.add(done.case_id)
        held = self._held(done.case_id)
        view = self.engine.case(done.case_id, viewer=asker)
        assert view.flow == flow.name, f"case opened under {view.flow}, not {flow.name}"
        assert held.state == view.state == flow.states[0] == done.state
        assert view.version == done.version == 1
        assert held.asker == asker
        assert view.kinds == sorted(set(kinds) or {flow.spec.default_kind})
        assert [e.action for e in view.timeline] == ["opened"]
        assert view.timeline[0].note == note
        first = _reception_tier(flow, asker, self.engine.organisations())
        if flow.is_chain:
            assert (held.links, held.at) == ((asker, first), 1), (
                f"{asker} asked and the chain is {held.links} held at {held.at}, "
                f"not ({asker}, {first}) held by {first}"
            )
        rows = self._outbox(done.case_id)
        if flow.is_chain and flow.spec.opening is not None:
            assert rows, f"the ask queued no message to {first}"
            assert all(seq == 1 and to == [first] for seq, to in rows), (
                f"the ask queued {rows}, not one message per channel to {first}"
            )
        else:
            assert not rows, f"the ask queued {rows}"
        after = self._totals()
        assert after[:3] == (before[0] + 1, before[1] + 1, before[2] + len(rows))

    # ------------------------------------------------------------ actions

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def act_as_expected(self, data: st.DataObject) -> None:
        """An action the case's state allows, by the link that may do it, with a note and
        a moment no earlier than the case's latest event: the engine does exactly what
        the model says (which may still be a refusal, e.g. escalating at the top)."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        held = self._held(case_id)
        possible = [a.id for a in self.flow.actions.values() if held.state in a.sources]
        if not possible:
            return  # closed: act_anyhow tries it all the same
        action = self.flow.actions[data.draw(st.sampled_from(possible), label="action")]
        actor = held.links[0] if action.by == "opener" and held.links else held.holder
        note = data.draw(notes(), label="note")
        if action.needs_note and not (note and note.strip()):
            note = f"{action.title}: {note or ''}"
        expect = data.draw(st.sampled_from([None, held.version]), label="expect_version")
        at = max(self.clock.now(), held.last_at)
        self._act_and_check(case_id, held, action.id, actor, note, at, expect)

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def act_anyhow(self, data: st.DataObject) -> None:
        """Any action (or one the flow lacks) by anyone, with any note, moment and version."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        held = self._held(case_id)
        name = data.draw(st.sampled_from([*self.flow.actions, "no_such_action"]), label="action")
        actor = data.draw(
            st.sampled_from(sorted(held.members))
            | st.sampled_from([*self.dir.everyone, _UNKNOWN_ORG]),
            label="actor",
        )
        v = held.version
        expect = data.draw(st.sampled_from([None, v, v - 1, v + 1]), label="expect_version")
        at = data.draw(st.none() | st.just(held.last_at) | moments(), label="at")
        note = data.draw(notes(), label="note")
        self._act_and_check(case_id, held, name, actor, note, at, expect)

    def _act_and_check(
        self,
        case_id: int,
        held: _Held,
        name: str,
        actor: str,
        note: str | None,
        at: datetime | None,
        expect: int | None,
    ) -> None:
        moment = as_aware(at) if at is not None else self.clock.now()
        expected = self._predict(held, name, actor, note, moment, expect)
        before = self._snapshot(case_id)
        self.touched.add(case_id)
        result = _attempt(
            lambda: self.engine.advance(
                case_id, name, actor=actor, note=note, at=at, expect_version=expect
            )
        )
        if isinstance(result, IrflowError):
            hypothesis_note(f"{name} by {actor} refused: {type(result).__name__}: {result}")
            self._check_unchanged(case_id, before)
            assert not isinstance(expected, _Moved), (
                f"{actor} could not do {name} on case {case_id} ({held.state}, held by "
                f"{held.holder}); the flow leads it to {expected}: {result!r}"
            )
            assert isinstance(result, expected), (
                f"{name} by {actor} got {type(result).__name__}, not {expected.__name__}: {result}"
            )
            if self._hidden_from(held, actor):
                assert str(result) == self._missing(case_id), (
                    f"outsider {actor} was told {result}, not what a missing case tells"
                )
            return
        assert isinstance(expected, _Moved), (
            f"{actor} did {name} on case {case_id} ({held.state}, held by {held.holder}), "
            f"which the flow refuses ({expected.__name__})"
        )
        now = self._held(case_id)
        assert (now.state, now.links, now.at) == (expected.state, expected.links, expected.at), (
            f"{name} by {actor} left case {case_id} {now.state} with chain {now.links} held "
            f"at {now.at}; the flow leads it to {expected}"
        )
        after = self._snapshot(case_id)
        assert after.row[0] == before.row[0] + 1 == result.version == now.version
        assert after.events == before.events + 1
        assert after.all_cases == before.all_cases
        event = result.event
        assert (event.action, event.step, event.actor) == ("action_taken", name, actor)
        assert (event.from_state, event.to_state) == (held.state, expected.state)
        queued = [to for seq, to in self._outbox(case_id) if seq == event.seq]
        assert after.all_outbox == before.all_outbox + len(queued), (
            "the action queued messages for another case"
        )
        if self.flow.actions[name].notify == "holder" and self.flow.is_chain:
            holder = expected.links[expected.at]
            assert queued, f"{name} by {actor} told nobody; it tells the new holder {holder}"
            assert all(to == [holder] for to in queued), (
                f"{name} by {actor} queued messages to {queued}, not to the new holder {holder}"
            )
        else:
            assert not queued, f"{name} tells nobody, yet queued messages to {queued}"

    def _predict(
        self,
        case: _Held,
        name: str,
        actor: str,
        note: str | None,
        moment: datetime,
        expect: int | None,
    ) -> _Moved | _Refusal:
        """What the flow file says ``name`` by ``actor`` does to ``case``: where it takes
        the case, or which refusal (the kind of it only where the rules fix it)."""
        flow = self.flow
        if actor == _UNKNOWN_ORG:
            return NotFound
        if actor not in case.members:
            return NotFound if flow.private else NotAllowed
        action = flow.actions.get(name)
        if action is None:
            return NotFound
        who = case.links[0] if action.by == "opener" and case.links else case.holder
        if actor != who:
            return NotAllowed
        if moment < case.last_at or expect not in (None, case.version):
            return IrflowError
        if case.state not in action.sources:
            return IrflowError
        if action.only_if is not None and not action.only_if(
            self._facts(case, case.links, case.at)
        ):
            return IrflowError
        if action.needs_note and not (note and note.strip()):
            return IrflowError
        moved = self._move(action.move, case.links, case.at)
        if moved is None:
            return IrflowError
        links, at = moved
        facts = self._facts(case, links, at)
        for state, guard in action.targets:
            if guard is None or guard(facts):
                return _Moved(state, links, at)
        return IrflowError

    def _move(
        self, how: str, links: tuple[str, ...], at: int
    ) -> tuple[tuple[str, ...], int] | None:
        """The chain and holder after a move, by the flow file; None: nowhere to go."""
        if how == "up":
            if at + 1 < len(links):
                return links, at + 1
            above = self._above(links[at])
            if above is None or above in links:
                return None
            return (*links, above), at + 1
        if how == "down":
            return links, max(at - 1, 0)
        if how == "first":
            return links, 1
        return links, at

    def _facts(self, case: _Held, links: tuple[str, ...], at: int) -> CaseFacts:
        top = at + 1 >= len(links) and (not links or self._above(links[at]) is None)
        return CaseFacts(kinds=case.kinds, flags=case.flags, at_opener=at == 0, at_top=top)

    def _above(self, org_id: str) -> str | None:
        return _reception_tier(self.flow, org_id, self.engine.organisations())

    def _supervisor(self, case: _Held) -> str:
        """Whom a duty's ``notify`` rung tells: the holder's own reception tier."""
        if case.at + 1 < len(case.links):
            return case.links[case.at + 1]
        return self._above(case.holder) or case.holder

    # ------------------------------------------------------------ looking

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def look(self, data: st.DataObject) -> None:
        """Anyone looks at a case and at the case list: only members see a private case."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        held = self._held(case_id)
        viewer = data.draw(
            st.sampled_from(sorted(held.members)) | st.sampled_from(self.dir.everyone),
            label="viewer",
        )
        listed = self._listed(case_id, viewer)
        if self._hidden_from(held, viewer):
            self._check_hidden(case_id, viewer, self._missing(case_id))
            assert not listed, f"outsider {viewer} finds case {case_id} in its list"
            return
        assert self.engine.case(case_id, viewer=viewer).id == case_id
        assert listed, f"{viewer} sees case {case_id} but not in its list"

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def other_commands(self, data: st.DataObject) -> None:
        """contacts, declare and assign_coordinator, by members and outsiders."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        held = self._held(case_id)
        actor = data.draw(
            st.sampled_from(sorted(held.members)) | st.sampled_from(self.dir.everyone),
            label="actor",
        )
        flag = data.draw(st.sampled_from([*self.flow.spec.flags, "no_such_flag"]), label="flag")
        target = data.draw(st.sampled_from(self.dir.everyone), label="coordinator")
        commands: dict[str, Callable[[], Any]] = {
            "contacts": lambda: self.engine.contacts(case_id, actor=actor),
            "declare": lambda: self.engine.declare(case_id, flag, actor=actor),
            "assign_coordinator": lambda: self.engine.assign_coordinator(
                case_id, coordinator=target, actor=actor
            ),
        }
        command = data.draw(st.sampled_from(sorted(commands)), label="command")
        before = self._snapshot(case_id)
        self.touched.add(case_id)
        result = _attempt(commands[command])
        if isinstance(result, IrflowError):
            hypothesis_note(f"{command} by {actor} refused: {type(result).__name__}: {result}")
            self._check_unchanged(case_id, before)
            if self._hidden_from(held, actor):
                assert isinstance(result, NotFound), f"outsider {actor} got {result!r}"
                assert str(result) == self._missing(case_id), (
                    f"outsider {actor} got {result!r} from {command}, not what a missing case tells"
                )
            elif actor not in held.members:
                assert isinstance(result, NotAllowed), f"outsider {actor} got {result!r}"
            return
        assert actor in held.members, f"outsider {actor} ran {command} on case {case_id}"
        if isinstance(result, Advanced):
            after = self._snapshot(case_id)
            assert after.row[0] == before.row[0] + 1 == result.version
            assert after.row[1] == before.row[1], f"{command} moved the state"
            assert after.row[7:9] == before.row[7:9], f"{command} changed the chain"
        elif not result:
            self._check_unchanged(case_id, before)

    # ------------------------------------------------------------ invariants

    def check_case(self, case_id: int) -> CaseView:
        """State declared, replay equals state, hash chain verifies, the chain is the
        asker's reception tiers, the timeline is a run the flow allows, deadlines for
        exactly the current state's duty, messages to the holders, and visibility."""
        held = self._held(case_id)
        view = super().check_case(case_id)
        assert view.state == held.state, "the case row and its view differ"
        assert (view.closed_at is not None) == (view.state == CLOSED)
        self._check_chain(held, view)
        self._check_timeline(held, view)
        self._check_deadlines(held, view)
        self._check_messages(case_id, view)
        self._check_visibility(case_id, held)
        return view

    def viewer(self, case_id: int) -> str | None:
        return self._held(case_id).asker  # a private flow shows its case to its asker

    def _check_chain(self, held: _Held, view: CaseView) -> None:
        """The asker, then each next reception tier, no one twice; the holder is a link."""
        links = held.links
        if not self.flow.is_chain:
            assert not links, f"a chainless case has chain {links}"
            assert view.holder is None
            return
        assert links[:1] == (held.asker,), f"the chain {links} does not start with its asker"
        assert len(set(links)) == len(links), f"the chain {links} repeats a link"
        for lower, upper in itertools.pairwise(links):
            assert upper == self._above(lower), (
                f"in chain {links}, {upper} follows {lower}, whose reception tier is "
                f"{self._above(lower)}"
            )
        assert 0 <= held.at < len(links), f"holder index {held.at} is outside chain {links}"
        assert [o.id for o in view.chain] == list(links)
        assert view.holder is not None
        assert view.holder.id == links[held.at]

    def _check_timeline(self, held: _Held, view: CaseView) -> None:
        """Each action on the timeline is one the flow allowed then, by the link that
        could do it, and together they lead to the case's row; escalations tell only
        the holder or its reception tier."""
        opened = view.timeline[0]
        assert opened.action == "opened"
        assert opened.to_state == self.flow.states[0]
        payload = opened.payload
        links = tuple(str(o) for o in payload.get("chain", ()))
        case = _Held(
            state=self.flow.states[0],
            version=1,
            participants=(str(payload["reporter"]), str(payload["coordinator"]),
                          str(payload["operator"])),
            links=links,
            at=1 if links else 0,
            kinds=held.kinds,
            flags=frozenset(),
            last_at=opened.at,
        )  # fmt: skip
        for ev in view.timeline[1:]:
            if ev.action == "action_taken":
                assert ev.actor is not None
                assert ev.step is not None
                moved = self._predict(case, ev.step, ev.actor, ev.note, ev.at, None)
                assert isinstance(moved, _Moved), (
                    f"event {ev.seq}, {ev.step} by {ev.actor} in {case.state} with the case "
                    f"held by {case.holder}, is one the flow refuses ({moved.__name__})"
                )
                assert (ev.from_state, ev.to_state) == (case.state, moved.state)
                to = moved.links[moved.at] if moved.links else None
                assert (ev.payload.get("from"), ev.payload.get("to")) == (case.holder, to)
                case = replace(case, state=moved.state, links=moved.links, at=moved.at)
            elif ev.action == "escalated":
                assert ev.step == ev.from_state == ev.to_state == case.state in self.flow.duties
                case = self._rung_fired(case, ev)
            else:
                assert not self.flow.is_chain, f"a chain case has a {ev.action!r} event"
                assert ev.from_state == ev.to_state == case.state
                if ev.action == "coordinator_assigned":
                    reporter, _, operator = case.participants
                    case = replace(case, participants=(reporter, str(ev.payload["to"]), operator))
                case = replace(case, flags=case.flags | set(ev.payload.get("declared", ())))
            assert ev.at >= case.last_at, f"event {ev.seq} is dated before the one before it"
            case = replace(case, last_at=ev.at)
        assert (case.state, case.links, case.at) == (held.state, held.links, held.at), (
            f"the timeline leads to {case.state} with chain {case.links} held at {case.at}; "
            f"the case row says {held.state}, {held.links}, {held.at}; the timeline: "
            + "; ".join(
                f"{e.seq} {e.action} {e.step} by {e.actor} {e.payload}" for e in view.timeline
            )
        )

    def _rung_fired(self, case: _Held, ev: Event) -> _Held:
        """A rung reminds the holder, or tells its reception tier, which joins the chain
        (so that it may read the case it is told about) if it is not a link yet."""
        told = list(ev.payload.get("told", ()))
        rung = ev.payload.get("action")
        wanted = {"remind": [case.holder], "notify": [self._supervisor(case)]}.get(str(rung), [])
        assert told == wanted, f"a {rung} rung told {told}, not {wanted}"
        joins = rung == "notify" and self.flow.is_chain and wanted[0] not in case.links
        reached = ev.payload.get("reached")
        assert reached == (wanted[0] if joins else None), (
            f"a {rung} rung telling {told} brought the case to {reached}"
        )
        return replace(case, links=(*case.links, wanted[0])) if joins else case

    def _check_deadlines(self, held: _Held, view: CaseView) -> None:
        """Rows for exactly the current state's duty, its whole ladder, since it was entered."""
        rungs: dict[str, set[int]] = {}
        for d in view.deadlines:
            rungs.setdefault(d.step, set()).add(d.rung)
        duty = self.flow.duties.get(held.state)
        wanted = {held.state: {r.number for r in duty.ladder}} if duty else {}
        assert rungs == wanted, (
            f"case {view.id} in {held.state} has deadlines {rungs}, not {wanted}"
        )
        entered = [e for e in view.timeline if e.action in ("opened", "action_taken")][-1]
        for d in view.deadlines:
            assert d.opened_at == entered.at, (
                f"the {d.step} deadline runs from {d.opened_at}; the case entered "
                f"{held.state} at {entered.at}"
            )

    def _check_messages(self, case_id: int, view: CaseView) -> None:
        """The ask and each action that tells the holder queued messages to the new
        holder only; a rung to whom it told; nothing else queued anything."""
        events = {e.seq: e for e in view.timeline}
        queued: dict[int, list[list[str]]] = {}
        for seq, to in self._outbox(case_id):
            queued.setdefault(seq, []).append(to)
        for seq, event in events.items():
            if event.action == "opened":
                chain = event.payload.get("chain", ())
                tells = [str(chain[1])] if chain and self.flow.spec.opening else None
            elif event.action == "action_taken" and event.step in self.flow.actions:
                notifies = self.flow.actions[event.step].notify == "holder"
                holder = event.payload.get("to")
                tells = [str(holder)] if notifies and self.flow.is_chain else None
            elif event.action == "escalated":
                tells = [str(t) for t in event.payload.get("told", ())] or None
            else:
                continue
            got = queued.pop(seq, [])
            if tells is None:
                assert not got, f"event {seq} ({event.action}) queued messages to {got}"
            else:
                assert got, f"event {seq} ({event.action}) queued nothing; it tells {tells}"
                assert all(to == tells for to in got), (
                    f"event {seq} ({event.action} {event.step or ''}) queued {got}, "
                    f"not one message per channel to {tells}"
                )
        if self.flow.is_chain:
            assert not queued, f"messages of case {case_id} belong to no event: {queued}"

    def _check_visibility(self, case_id: int, held: _Held) -> None:
        """Members see the case; anyone else is told it does not exist. The case list
        (slower: it grows with every example) is read once a check, in turn by the
        holder, a caller naming nobody, and an outsider."""
        if not self.flow.private:
            self.engine.case(case_id)
            return
        for member in sorted(held.members):
            self.engine.case(case_id, viewer=member)
        outsiders = [o for o in self.dir.everyone if o not in held.members]
        missing = self._missing(case_id)
        for viewer in [None, *outsiders]:
            self._check_hidden(case_id, viewer, missing)
        listers: list[str | None] = [held.holder, None, *outsiders[:1]]
        lister = listers[held.version % len(listers)]
        listed = self._listed(case_id, lister)
        assert listed == (lister == held.holder), (
            f"{lister or 'a caller naming nobody'} {'finds' if listed else 'misses'} "
            f"case {case_id} in its list"
        )

    # ------------------------------------------------------------ helpers

    def _held(self, case_id: int) -> _Held:
        with self.engine.sa.connect() as conn:
            row = conn.execute(_HELD, {"id": case_id}).one()
        (state, version, reporter, coordinator, operator, chain, chain_at, kinds, flags,
         last_at) = row  # fmt: skip
        return _Held(
            state=state,
            version=int(version),
            participants=(reporter, coordinator, operator),
            links=tuple(t for t in chain.split(",") if t),
            at=int(chain_at),
            kinds=frozenset(t for t in kinds.split(",") if t),
            flags=frozenset(t for t in flags.split(",") if t),
            last_at=self.engine.ledger.read_moment(last_at),
        )

    def _outbox(self, case_id: int) -> list[tuple[int, list[str]]]:
        """Each queued message of the case: its event's seq and its recipients."""
        with self.engine.sa.connect() as conn:
            rows = conn.execute(_OUTBOX, {"id": case_id}).all()
        return [(int(seq), list(json.loads(to))) for seq, to in rows]

    def _listed(self, case_id: int, viewer: str | None) -> bool:
        """Whether ``viewer``'s list holds the case: the page of one after the number
        before it (a list is paged; this reads the one row, however many cases)."""
        page = self.engine.cases(viewer=viewer, after=case_id - 1, limit=1)
        return [c.id for c in page] == [case_id]

    def _hidden_from(self, held: _Held, org_id: str) -> bool:
        """Whether the case must look missing to ``org_id`` (an outsider of a private case)."""
        return self.flow.private and org_id != _UNKNOWN_ORG and org_id not in held.members

    def _check_hidden(self, case_id: int, viewer: str | None, missing: str) -> None:
        """``viewer`` (None: a caller naming nobody) is told there is no such case, in
        the words ``missing`` a missing case gets."""
        shown = _attempt(lambda: self.engine.case(case_id, viewer=viewer))
        assert isinstance(shown, NotFound), f"{viewer or 'nobody'} was shown case {case_id}"
        assert str(shown) == missing, (
            f"{viewer or 'nobody'} was told {shown}, not what a missing case tells"
        )

    def _missing(self, case_id: int) -> str:
        """What the engine tells about case ``case_id`` if there were no such case."""
        nowhere = 2_000_000_000 + case_id
        told = _attempt(lambda: self.engine.case(nowhere))
        assert isinstance(told, NotFound), f"case {nowhere} exists"
        return str(told).replace(str(nowhere), str(case_id))


_T = TypeVar("_T")


def _attempt(command: Callable[[], _T]) -> _T | IrflowError:
    """What a command returned, or the ``IrflowError`` it was refused with."""
    try:
        return command()
    except IrflowError as exc:
        return exc


def _reception_tier(flow: Flow, org_id: str, orgs: Mapping[str, Organisation]) -> str | None:
    """Whom ``org_id`` asks first (and escalates to) in a chain flow, by the flow file's
    ``chain.reception`` and the directory; None if nobody (or no such organisation)."""
    org = orgs.get(org_id)
    if org is None or flow.spec.chain is None:
        return None
    reception = cast(Mapping[str, str], flow.spec.chain.reception)
    tier = reception.get(org.type.value)
    if tier == "prefecture":
        return org.prefecture if org.prefecture in orgs else None
    wanted = {"jlis": OrgType.JLIS, "operator": OrgType.OPERATOR}.get(tier or "")
    found = sorted(o.id for o in orgs.values() if o.type is wanted and o.id != org.id)
    return found[0] if found else None


def _shared_lists(
    flow: Flow,
    engine: Engine,
    clock: MovableClock,
    tmpdir: tempfile.TemporaryDirectory[str] | None,
) -> _Shared:
    directory = engine.organisations()
    orgs = sorted(directory.values(), key=lambda o: o.id)

    def pick(kinds: set[OrgType], limit: int) -> list[Organisation]:
        found = [o for o in orgs if o.type in kinds]
        step = max(1, len(found) // limit)
        return found[::step][:limit]

    reporters = [
        o.id
        for o in pick({OrgType.MUNICIPALITY, OrgType.PREFECTURE}, 8)
        if engine.default_coordinator(o) is not None
    ]
    others = pick({OrgType.NATIONAL_AGENCY, OrgType.MINISTRY, OrgType.AGGREGATION_AGENCY}, 4)
    cannot = pick({OrgType.OPERATOR, OrgType.OVERSIGHT}, 2)
    coordinators = [o.id for o in orgs if o.type in COORDINATOR_TYPES]
    assignable = [o.id for o in pick({OrgType.MINISTRY, OrgType.AGGREGATION_AGENCY}, 6)]
    wrong = [o.id for o in pick({OrgType.MUNICIPALITY, OrgType.PREFECTURE, OrgType.JLIS}, 3)]
    outsiders = [o.id for o in pick(set(OrgType), 6)]
    # A ministry may report too (it is an information querier); it then needs a
    # coordinator named, and must never be reassigned as its own coordinator.
    reporting_ministries = assignable[:2]
    unusual_reporters = sorted(
        {*reporting_ministries, *(o.id for o in others + cannot), _UNKNOWN_ORG}
    )
    if flow.is_chain:
        askers, cannot_ask = _chain_askers(flow, directory, pick)
    else:
        askers, cannot_ask = reporters, unusual_reporters
    tiers = (o.id for o in orgs if o.type in (OrgType.JLIS, OrgType.OPERATOR))
    everyone = sorted({*askers, *outsiders, *tiers, *cannot_ask} - {_UNKNOWN_ORG})
    return _Shared(
        engine=engine,
        clock=clock,
        reporters=reporters,
        has_default_coordinator={o.id for o in orgs if engine.default_coordinator(o)},
        unusual_reporters=unusual_reporters,
        coordinators=coordinators[::3],
        assignable=[*assignable, *wrong, _UNKNOWN_ORG],
        outsiders=outsiders,
        askers=askers,
        cannot_ask=cannot_ask,
        everyone=everyone,
        tmpdir=tmpdir,
    )


def _chain_askers(
    flow: Flow,
    directory: Mapping[str, Organisation],
    pick: Any,
) -> tuple[list[str], list[str]]:
    """A few organisations of every type that can ask in a chain flow (and the
    receivers of the first ones, who ask too), those with the longest way up the
    chain first; and a few that cannot ask."""

    def climb(org_id: str) -> int:
        seen = [org_id]
        while (above := _reception_tier(flow, seen[-1], directory)) and above not in seen:
            seen.append(above)
        return len(seen)

    assert flow.spec.chain is not None
    types = {t for t in OrgType if t.value in cast(Mapping[str, str], flow.spec.chain.reception)}
    found = [o.id for t in sorted(types) for o in pick({t}, 3)]
    receivers = [_reception_tier(flow, o, directory) for o in found]
    candidates = dict.fromkeys([*found, *(r for r in receivers if r is not None)])
    askers = sorted(
        (o for o in candidates if _reception_tier(flow, o, directory) is not None),
        key=lambda o: (-climb(o), o),
    )
    cannot = [o.id for o in pick(set(OrgType) - types, 3)]
    cannot += [o for o in candidates if o not in askers]
    return askers, sorted({*cannot, _UNKNOWN_ORG})


def flow_state_machine(
    flow: Flow, url: str | None = None, *, max_cases: int = 3
) -> type[FlowMachine]:
    """A hypothesis state machine that property-tests ``flow`` on the database at ``url``.

    A flow of phases gets a ``PhaseFlowMachine``, a flow of states a
    ``StateFlowMachine``. ``url`` None means a SQLite file in a temporary folder.
    Run the result with ``run_state_machine_as_test(machine, settings=...)`` or
    collect its ``.TestCase`` with pytest; call ``machine.close()`` when done with
    the database.
    """
    name = "".join(part.title() for part in flow.name.replace("-", "_").split("_"))
    base: type[FlowMachine] = StateFlowMachine if flow.stateful else PhaseFlowMachine
    machine = type(
        f"{name}FlowMachine",
        (base,),
        {"flow": flow, "url": url, "max_cases": max_cases, "_shared": None},
    )
    return cast(type[FlowMachine], machine)
