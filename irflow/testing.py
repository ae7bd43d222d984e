"""Test doubles for code that embeds irflow, and property tests for any flow file.

- ``MovableClock``: a clock that a test moves by hand (``advance``, ``set``).
- ``MemoryNotifier``: the in-memory notifier (from ``irflow.notifiers.memory``),
  re-exported here beside the other doubles.
- hypothesis strategies: ``moments()``, ``time_steps()``, ``case_kinds(flow)``,
  ``notes()``.
- ``flow_state_machine(flow)``: a hypothesis ``RuleBasedStateMachine`` that drives
  the real ``Engine`` with random commands on cases of ``flow`` and checks the
  engine's invariants after each one.

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

What the machine does, at random: opens cases with kinds the flow takes (and
sometimes kinds it does not, or reporters that cannot report) for reporters from
the directory; completes steps by the right participant, declaring the flow's
flags on the way; fires any step as any actor (participants and outsiders), with
and without a stale ``expect_version``; reassigns coordinators; asks for the
contact plans of open steps (``Engine.contacts``); moves the clock and sweeps
the escalation rungs that fell due (``Engine.sweep``).

What it checks, after every command:

- the case's state is one the flow declares, and it never moves back;
- a refused command (any ``IrflowError``) changed nothing: not the case row (its
  version, state, flags, steps, coordinator, last hash), not the number of cases,
  not the number of timeline events; anything else raised is a failure;
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
- a sweep fires only rungs that are due, each once, and only for steps not done;
- the case keeps escalation deadlines for exactly its open required steps that
  have one, each with its whole ladder.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar, cast

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
from irflow.engine.core import Advanced, Engine
from irflow.engine.directory import COORDINATOR_TYPES, Organisation, OrgType
from irflow.engine.flow import CLOSED, Flow
from irflow.engine.views import CaseView
from irflow.errors import IrflowError, NotAllowed, NotFound
from irflow.notifiers.memory import MemoryNotifier

__all__ = [
    "FlowMachine",
    "MemoryNotifier",
    "MovableClock",
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
    tmpdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Snapshot:
    row: tuple[Any, ...]
    events: int
    all_cases: int
    all_events: int


_SNAPSHOT_ROW = text(
    "SELECT version, state, flags, steps_done, coordinator_id, last_seq, last_hash "
    "FROM irflow_case WHERE id = :id"
)
_SNAPSHOT_EVENTS = text("SELECT count(*) FROM timeline_event WHERE case_id = :id")
_SNAPSHOT_TOTALS = text(
    "SELECT (SELECT count(*) FROM irflow_case), (SELECT count(*) FROM timeline_event)"
)

_UNKNOWN_ORG = "no-such-organisation"


class FlowMachine(RuleBasedStateMachine):
    """Random commands on cases of one flow, with the engine's invariants checked.

    Make one with ``flow_state_machine(flow, url)``; the class attributes below are
    what that function sets, and a subclass may override them.
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
            engine = Engine(url, clock=clock, flows=[cls.flow])
            engine.init()
            engine.flows()
            cls._shared = _shared_lists(engine, clock, tmpdir)
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
        self.dir = shared
        self.cases: list[int] = []
        self.touched: set[int] = set()

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
        self, done: Advanced, reporter: str, kinds: Sequence[str], before: tuple[int, int]
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
        assert self._totals() == (before[0] + 1, before[1] + 1)

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
        """State declared, replay equals state, chain verifies, steps done by the right tier,
        and deadlines kept for exactly the open steps the case needs."""
        flow = self.flow
        view = self.engine.case(case_id)
        assert view.state in flow.states, f"case {case_id} is in undeclared state {view.state!r}"
        replayed = self.engine.replay(case_id)
        assert replayed == view.state, f"case {case_id} replays to {replayed}, is {view.state}"
        (report,) = self.engine.verify(case_id)
        assert report.ok, f"case {case_id}'s chain is broken: {report}"
        assert [e.seq for e in view.timeline] == list(range(1, len(view.timeline) + 1))
        assert view.version == len(view.timeline), "every command adds one event and one version"

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

    def _totals(self) -> tuple[int, int]:
        with self.engine.sa.connect() as conn:
            row = conn.execute(_SNAPSHOT_TOTALS).one()
        return int(row[0]), int(row[1])

    def _snapshot(self, case_id: int) -> _Snapshot:
        with self.engine.sa.connect() as conn:
            row = tuple(conn.execute(_SNAPSHOT_ROW, {"id": case_id}).one())
            events = int(conn.execute(_SNAPSHOT_EVENTS, {"id": case_id}).scalar_one())
            totals = conn.execute(_SNAPSHOT_TOTALS).one()
        return _Snapshot(row, events, int(totals[0]), int(totals[1]))

    def _check_unchanged(self, case_id: int, before: _Snapshot) -> None:
        after = self._snapshot(case_id)
        assert after == before, f"a refused command changed case {case_id}: {before} -> {after}"

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


def _shared_lists(
    engine: Engine, clock: MovableClock, tmpdir: tempfile.TemporaryDirectory[str] | None
) -> _Shared:
    orgs = sorted(engine.organisations().values(), key=lambda o: o.id)

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
    return _Shared(
        engine=engine,
        clock=clock,
        reporters=reporters,
        has_default_coordinator={o.id for o in orgs if engine.default_coordinator(o)},
        unusual_reporters=sorted(
            {*reporting_ministries, *(o.id for o in others + cannot), _UNKNOWN_ORG}
        ),
        coordinators=coordinators[::3],
        assignable=[*assignable, *wrong, _UNKNOWN_ORG],
        outsiders=outsiders,
        tmpdir=tmpdir,
    )


def flow_state_machine(
    flow: Flow, url: str | None = None, *, max_cases: int = 3
) -> type[FlowMachine]:
    """A hypothesis state machine that property-tests ``flow`` on the database at ``url``.

    ``url`` None means a SQLite file in a temporary folder. Run the result with
    ``run_state_machine_as_test(machine, settings=...)`` or collect its
    ``.TestCase`` with pytest; call ``machine.close()`` when done with the database.
    """
    name = "".join(part.title() for part in flow.name.replace("-", "_").split("_"))
    machine = type(
        f"{name}FlowMachine",
        (FlowMachine,),
        {"flow": flow, "url": url, "max_cases": max_cases, "_shared": None},
    )
    return cast(type[FlowMachine], machine)
