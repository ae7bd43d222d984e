"""Property tests of the inquiry chain (問合せ, shared/DOMAIN.md section 4), on every backend.

Random organisations ask (municipalities, prefectures, national agencies and
ministries), and random organisations escalate, answer, relay, follow up and close,
mostly the ones the inquiry waits for and often anyone else, while time passes and
the sweep fires the inquiry's rungs. A model written from DOMAIN.md section 4 (not
from the flow file) says what each command must do, and after every step:

(a) an inquiry that reached ``answered`` got its answer down through every tier it
    passed since the last ask or follow-up, in reverse order: an ``answer`` by the
    highest tier it reached, then a ``relay`` by each tier below, each hop done by
    the link just below the previous one, and each hop queued its messages (one per
    channel) to exactly the next link down;
(b) nobody outside the chain sees the inquiry: ``case(viewer=)``, ``cases(viewer=)``
    and ``advance`` tell an outsider what they tell of a case that does not exist;
(c) only the asker can close the inquiry or follow it up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text
from sqlmodel import Session, col, select

from irflow.clock import JST
from irflow.engine import chain as chain_rules
from irflow.engine.directory import Organisation, OrgType
from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.engine.tables import OutboxRow
from irflow.engine.timeline import Event
from irflow.errors import IrflowError, NotAllowed, NotFound
from irflow.notifiers.memory import MemoryNotifier
from irflow.testing import MovableClock, notes, time_steps

#: How hard to try, per backend (as tests/test_properties.py).
BUDGET: dict[str, dict[str, Any]] = {
    "sqlite": {"max_examples": 60, "stateful_step_count": 40},
    "postgresql": {"max_examples": 25, "stateful_step_count": 30},
}

#: The channels every notice goes out on: the site and the one notifier.
CHANNELS = ("memory", "site")
#: In the order hypothesis favours (the first): up the chain, then down, then again.
ACTIONS = ("escalate", "relay", "answer", "follow_up", "close")
BY_ASKER = ("follow_up", "close")
TEXT = st.text(alphabet="ab Z09事象回答。、（）", min_size=1, max_size=20).map(lambda s: f"回答{s}")

#: Wednesday 1 April 2026, 10:00 in Japan: a working day.
START = datetime(2026, 4, 1, 10, 0, tzinfo=JST)

_T = TypeVar("_T")


def attempt(command: Callable[[], _T]) -> _T | IrflowError:
    """What a command returned, or the ``IrflowError`` it was refused with."""
    try:
        return command()
    except IrflowError as exc:
        return exc


def tier_above(org: Organisation, orgs: dict[str, Organisation]) -> str | None:
    """DOMAIN.md section 4: a municipality asks its prefecture, a prefecture J-LIS, J-LIS
    and the national organisations the operator; the operator has nobody above it."""
    if org.type is OrgType.OPERATOR:
        return None
    if org.type is OrgType.MUNICIPALITY:
        return org.prefecture
    wanted = OrgType.JLIS if org.type is OrgType.PREFECTURE else OrgType.OPERATOR
    return next(o.id for o in orgs.values() if o.type is wanted)


@dataclass
class Inquiry:
    """What one inquiry should be, by the model."""

    id: int
    chain: list[str]
    """The asker, then each tier it reached, in order."""
    at: int
    """The index of the link that holds it."""
    state: str
    passed: list[str] = field(default_factory=list)
    """The tiers that held it on its way up since the last ask or follow-up."""

    @property
    def asker(self) -> str:
        return self.chain[0]

    @property
    def holder(self) -> str:
        return self.chain[self.at]


@dataclass
class World:
    """What every example of one test shares: the engine, its clock and the directory."""

    engine: Engine
    clock: MovableClock
    askers: list[str]
    """Municipalities (two of them in one prefecture), prefectures, national agencies
    and ministries."""
    watchers: list[str]
    """Organisations of every type, the tiers of the askers among them: who looks."""


class InquiryMachine(RuleBasedStateMachine):
    """Inquiries asked, escalated, answered, relayed, followed up and closed at random."""

    world: ClassVar[World]
    """Set by ``run``: the engine and directory of the test."""

    def __init__(self) -> None:
        super().__init__()
        self.engine = self.world.engine
        self.clock = self.world.clock
        # Every example starts at the same moment: working days (and so the rungs that
        # fall due) depend on the date, and hypothesis replays an example to shrink it.
        self.clock.set(START)
        self.orgs = self.engine.organisations()
        self.inquiries: dict[int, Inquiry] = {}
        self.turn = 0
        # The version of each inquiry that (a), (b) and (c) last checked.
        self.checked: dict[int, int] = {}
        self.looked: dict[int, int] = {}
        self.read: dict[int, int] = {}

    def above(self, org_id: str) -> str | None:
        return tier_above(self.orgs[org_id], self.orgs)

    # ------------------------------------------------------------------ rules

    @initialize(data=st.data())
    def first_ask(self, data: st.DataObject) -> None:
        self._ask(data)

    @precondition(lambda self: len(self.inquiries) < 3)
    @rule(data=st.data())
    def ask(self, data: st.DataObject) -> None:
        self._ask(data)

    def _ask(self, data: st.DataObject) -> None:
        """A municipality, prefecture or national organisation asks, having read the FAQ."""
        asker = data.draw(st.sampled_from(self.world.askers), label="asker")
        done = self.engine.open_case(
            reporter=asker,
            title="問合せ",
            kinds=["inquiry"],
            note=data.draw(TEXT, label="question"),
            confirmed=["faq_checked"],
            at=self.clock.now(),
        )
        first = self.above(asker)
        assert first is not None
        inquiry = Inquiry(done.case_id, [asker, first], 1, "asking", [first])
        self.inquiries[done.case_id] = inquiry
        self.check_engine_agrees(inquiry)
        self.check_hop(inquiry, done.event, to=first)

    @precondition(lambda self: bool(self.inquiries))
    @rule(data=st.data())
    def act(self, data: st.DataObject) -> None:
        """Any of the five actions, by the one it waits for, a link, or anyone."""
        inquiry = self.inquiries[data.draw(st.sampled_from(sorted(self.inquiries)), label="case")]
        # Mostly what the inquiry waits for, so that it climbs and comes back down.
        waited_for = [
            a
            for a in ACTIONS
            if self.predict(inquiry, a, self.rightful(inquiry, a), "回答") is None
        ]
        action = data.draw(
            st.sampled_from(waited_for or ACTIONS) | st.sampled_from(ACTIONS), label="action"
        )
        rightful = self.rightful(inquiry, action)
        actor = data.draw(
            st.just(rightful)
            | st.just(rightful)
            | st.sampled_from(inquiry.chain)
            | st.sampled_from(self.world.watchers),
            label="actor",
        )
        note = data.draw(TEXT | st.sampled_from(["", "  "]) | notes(), label="note")
        expected = self.predict(inquiry, action, actor, note)
        before = self.footprint(inquiry)
        done = attempt(
            lambda: self.engine.advance(
                inquiry.id, action, actor=actor, note=note, at=self.clock.now()
            )
        )
        if isinstance(done, IrflowError):
            assert self.footprint(inquiry) == before, f"a refused {action} changed the inquiry"
            assert expected is not None, f"{action} by {actor} was refused: {done!r}"
            assert isinstance(done, expected), (
                f"{action} by {actor} got {type(done).__name__}, not {expected.__name__}"
            )
            if actor not in inquiry.chain:
                assert str(done) == self.missing(inquiry.id), f"outsider {actor} was told {done}"
            return
        assert expected is None, f"{action} by {actor} on {inquiry} was allowed"
        self.apply(inquiry, action)
        self.check_engine_agrees(inquiry)
        self.check_hop(inquiry, done.event, to=None if action == "close" else inquiry.holder)

    @precondition(lambda self: bool(self.inquiries))
    @rule(delta=time_steps())
    def time_passes(self, delta: timedelta) -> None:
        """Time passes and the sweep fires what fell due: a rung that tells the holder's
        reception tier brings the inquiry to it (it joins the chain)."""
        self.clock.advance(delta)
        for fired in self.engine.sweep():
            inquiry = self.inquiries.get(fired.case_id)
            if inquiry is None or fired.action != "notify":
                continue
            (told,) = fired.told
            if told not in inquiry.chain:
                assert inquiry.holder == inquiry.chain[-1], "a tier joined above a lower holder"
                assert told == self.above(inquiry.holder), f"{told} joined above {inquiry.holder}"
                inquiry.chain.append(told)
        for inquiry in self.inquiries.values():
            self.check_engine_agrees(inquiry)

    # ------------------------------------------------------------------ the model

    def rightful(self, inquiry: Inquiry, action: str) -> str:
        """Who does ``action``: the asker closes and follows up, the holder does the rest."""
        return inquiry.asker if action in BY_ASKER else inquiry.holder

    def predict(
        self, inquiry: Inquiry, action: str, actor: str, note: str | None
    ) -> type[IrflowError] | None:
        """None if DOMAIN.md section 4 allows it, else the refusal it must get."""
        if actor not in inquiry.chain:
            return NotFound  # (b): an outsider learns nothing of the inquiry
        if action in BY_ASKER:
            if actor != inquiry.asker:
                return NotAllowed  # (c): only the asker closes or follows up
            wanted = "answered"
        else:
            if actor != inquiry.holder:
                return NotAllowed
            wanted = "relaying" if action == "relay" else "asking"
        if inquiry.state != wanted:
            return IrflowError
        if action in ("answer", "follow_up") and not (note and note.strip()):
            return IrflowError
        if action == "escalate" and self.above(inquiry.holder) is None:
            return IrflowError  # the operator can only answer
        return None

    def apply(self, inquiry: Inquiry, action: str) -> None:
        if action == "escalate":
            if inquiry.at + 1 == len(inquiry.chain):
                above = self.above(inquiry.holder)
                assert above is not None
                inquiry.chain.append(above)
            inquiry.at += 1
            inquiry.passed.append(inquiry.holder)
        elif action in ("answer", "relay"):
            inquiry.at -= 1
            inquiry.state = "answered" if inquiry.at == 0 else "relaying"
        elif action == "follow_up":
            inquiry.at, inquiry.state = 1, "asking"
            inquiry.passed = [inquiry.holder]
        else:
            inquiry.state = "closed"

    # ------------------------------------------------------------------ checks

    def check_engine_agrees(self, inquiry: Inquiry) -> None:
        view = self.engine.case(inquiry.id, viewer=inquiry.asker)
        assert view.state == inquiry.state, f"{inquiry}: the engine says {view.state}"
        assert [o.id for o in view.chain] == inquiry.chain, f"{inquiry}: chain {view.chain}"
        assert view.holder is not None
        assert view.holder.id == inquiry.holder, f"{inquiry}: held by {view.holder.id}"

    def check_hop(self, inquiry: Inquiry, event: Event, *, to: str | None) -> None:
        """The command queued one message per channel to ``to`` only (None: nothing)."""
        rows = [r for r in self.messages(inquiry.id) if r.event_seq == event.seq]
        told = sorted((r.channel, json.loads(r.recipients)) for r in rows)
        wanted = [(channel, [to]) for channel in CHANNELS] if to is not None else []
        assert told == wanted, f"{event.step or 'ask'} by {event.actor} queued {told}, not {wanted}"

    @invariant()
    def answers_came_down_every_tier(self) -> None:
        """(a) for each inquiry the engine says is answered (that changed since)."""
        for inquiry in self.inquiries.values():
            version = self.version_of(inquiry.id)
            if self.checked.get(inquiry.id) == version:
                continue
            self.checked[inquiry.id] = version
            view = self.engine.case(inquiry.id, viewer=inquiry.asker)
            if view.state == "answered":
                self.check_answer_round(inquiry, view.timeline)

    def check_answer_round(self, inquiry: Inquiry, timeline: list[Event]) -> None:
        actions = [e for e in timeline if e.action in ("opened", "action_taken")]
        start = max(i for i, e in enumerate(actions) if e.step in (None, "follow_up"))
        round_ = actions[start + 1 :]
        # Up: from the first receiver, each escalation by the tier holding it.
        passed = [inquiry.chain[1]]
        for e in round_:
            if e.step == "escalate":
                assert e.actor == passed[-1], f"{e.actor} escalated while {passed[-1]} held it"
                above = self.above(passed[-1])
                assert above is not None
                passed.append(above)
        assert passed == inquiry.chain[1 : len(passed) + 1] == inquiry.passed, (
            f"the timeline went up by {passed}; the model by {inquiry.passed}"
        )
        # Down: the highest tier answered, each tier below relayed, in turn.
        hops = [e for e in round_ if e.step in ("answer", "relay")]
        assert [e.actor for e in hops] == passed[::-1], (
            f"the answer came down by {[e.actor for e in hops]}; it went up by {passed}"
        )
        assert [e.step for e in hops] == ["answer"] + ["relay"] * (len(passed) - 1)
        outbox: dict[int, list[tuple[str, list[str]]]] = {}
        for r in self.messages(inquiry.id):
            if r.event_seq is not None:
                outbox.setdefault(r.event_seq, []).append((r.channel, json.loads(r.recipients)))
        for e, below in zip(hops, [*passed[-2::-1], inquiry.asker], strict=True):
            told = sorted(outbox.get(e.seq, []))
            assert told == [(channel, [below]) for channel in CHANNELS], (
                f"{e.step} by {e.actor} (event {e.seq}) told {told}, not {below} once per channel"
            )

    @invariant()
    def outsiders_see_nothing(self) -> None:
        """(b) case, cases and advance tell an outsider nothing; members see it.

        Who may see an inquiry follows its case row: every watcher looks at each
        inquiry that changed since it last looked. The case list, slower to read (it
        grows with every example), is read by one watcher a step, in turn."""
        for inquiry in self.inquiries.values():
            version = self.version_of(inquiry.id)
            if self.looked.get(inquiry.id) == version:
                continue
            self.looked[inquiry.id] = version
            missing = self.missing(inquiry.id)
            for viewer in self.world.watchers:
                shown = attempt(partial(self.engine.case, inquiry.id, viewer=viewer))
                if viewer in inquiry.chain:
                    assert not isinstance(shown, IrflowError), f"{viewer} cannot see {inquiry}"
                    continue
                assert isinstance(shown, NotFound), f"outsider {viewer} sees {inquiry}"
                assert str(shown) == missing, f"outsider {viewer} was told {shown}"
            outsiders = [w for w in self.world.watchers if w not in inquiry.chain]
            if outsiders:
                outsider = outsiders[version % len(outsiders)]
                before = self.footprint(inquiry)
                close = partial(self.engine.advance, inquiry.id, "close", actor=outsider)
                tried = attempt(partial(close, at=self.clock.now()))
                assert isinstance(tried, NotFound), f"outsider {outsider} got {tried!r}"
                assert str(tried) == missing
                assert self.footprint(inquiry) == before
        self.turn += 1
        viewer = self.world.watchers[self.turn % len(self.world.watchers)]
        listed = {c.id for c in self.engine.cases(viewer=viewer, limit=1000)}
        for inquiry in self.inquiries.values():
            assert (inquiry.id in listed) == (viewer in inquiry.chain), (
                f"{viewer} {'finds' if inquiry.id in listed else 'misses'} {inquiry}"
            )

    @invariant()
    def only_the_asker_closes_or_follows_up(self) -> None:
        """(c) on the timeline of every inquiry (that changed since it was read)."""
        for inquiry in self.inquiries.values():
            version = self.version_of(inquiry.id)
            if self.read.get(inquiry.id) == version:
                continue
            self.read[inquiry.id] = version
            for e in self.engine.timeline(inquiry.id, viewer=SYSTEM):
                if e.step in BY_ASKER:
                    assert e.actor == inquiry.asker, f"{e.actor} did {e.step} on {inquiry}"

    # ------------------------------------------------------------------ helpers

    def footprint(self, inquiry: Inquiry) -> tuple[Any, ...]:
        view = self.engine.case(inquiry.id, viewer=inquiry.asker)
        return (
            view.version,
            view.state,
            [o.id for o in view.chain],
            view.holder.id if view.holder else None,
            len(view.timeline),
            [(d.step, d.rung, d.due_at, d.fired_at) for d in view.deadlines],
            self.outbox_size(),
        )

    def messages(self, case_id: int) -> list[OutboxRow]:
        """``Engine.outbox()``'s rows of one inquiry (read by the case's index: the
        outbox grows with every example)."""
        with Session(self.engine.sa) as session:
            query = select(OutboxRow).where(col(OutboxRow.case_id) == case_id)
            return list(session.exec(query).all())

    def version_of(self, case_id: int) -> int:
        with self.engine.sa.connect() as conn:
            query = text("SELECT version FROM irflow_case WHERE id = :id")
            return int(conn.execute(query, {"id": case_id}).scalar_one())

    def outbox_size(self) -> int:
        with self.engine.sa.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM outbox")).scalar_one())

    def missing(self, case_id: int) -> str:
        """What the engine tells of case ``case_id`` where there is no such case."""
        nowhere = 2_000_000_000 + case_id
        told = attempt(lambda: self.engine.case(nowhere, viewer=SYSTEM))
        assert isinstance(told, NotFound)
        return str(told).replace(str(nowhere), str(case_id))


def make_world(engine: Engine, clock: MovableClock) -> World:
    orgs = sorted(engine.organisations().values(), key=lambda o: o.id)

    def of(kind: OrgType) -> list[str]:
        return [o.id for o in orgs if o.type is kind]

    municipalities = of(OrgType.MUNICIPALITY)
    by_prefecture: dict[str | None, list[str]] = {}
    for o in orgs:
        if o.type is OrgType.MUNICIPALITY:
            by_prefecture.setdefault(o.prefecture, []).append(o.id)
    neighbours = next(ms for ms in by_prefecture.values() if len(ms) > 1)[:2]
    askers = sorted(
        {*neighbours, *municipalities[::4], *of(OrgType.PREFECTURE)[::12]}
        | {*of(OrgType.NATIONAL_AGENCY)[::3], *of(OrgType.MINISTRY)[::3]}
    )
    orgs_by_id = engine.organisations()
    tiers = {t for a in askers if (t := tier_above(orgs_by_id[a], orgs_by_id))}
    others = [o.id for o in orgs if o.type in (OrgType.OVERSIGHT, OrgType.AGGREGATION_AGENCY)]
    watchers = sorted({*askers, *tiers, others[0], *municipalities[1::5]})
    return World(engine, clock, askers, watchers)


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    clock = MovableClock()
    engine = Engine(db_url, clock=clock, notifiers=[MemoryNotifier()])
    engine.init()
    try:
        yield make_world(engine, clock)
    finally:
        engine.close()


def run(world: World, **given: Any) -> None:
    """Run the machine on ``world`` with the settings ``given``."""
    machine = type("InquiryMachineOnWorld", (InquiryMachine,), {"world": world})
    run_state_machine_as_test(
        machine,
        settings=settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], **given),
    )


def test_inquiries_keep_the_chain_rules(world: World, db_url: str) -> None:
    """(a), (b), (c) after every step of random inquiries."""
    run(world, **BUDGET["postgresql" if db_url.startswith("postgresql") else "sqlite"])


def test_machine_catches_an_answer_that_does_not_come_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The machine is not vacuous: an engine whose chain never moves down fails it."""
    real_move = chain_rules.move

    def never_down(flow: Any, how: str, chain: list[str], at: int, orgs: Any) -> Any:
        return (chain, at) if how == "down" else real_move(flow, how, chain, at, orgs)

    monkeypatch.setattr(chain_rules, "move", never_down)
    clock = MovableClock()
    engine = Engine(f"sqlite:///{tmp_path}/broken.db", clock=clock, notifiers=[MemoryNotifier()])
    engine.init()
    try:
        with pytest.raises(AssertionError):
            run(
                make_world(engine, clock),
                max_examples=50,
                stateful_step_count=20,
                database=None,
                phases=[Phase.generate],
                report_multiple_bugs=False,
            )
    finally:
        engine.close()
