"""Deadlines and their escalation ladders, fired by the sweep, on every backend, with the
movable clock (the Runner that sweeps: test_scheduler.py).

The bundled incident flow's ladder: remind the step's owner at the deadline, notify
its supervisor 30 minutes later (with the contact plan for phoning the owner), mark
the case overdue 2 hours after the deadline.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from irflow.clock import JST
from irflow.engine import escalation
from irflow.engine.facade import Engine
from irflow.engine.flow import bundled_flow
from irflow.engine.ledger import Ledger
from irflow.engine.rules import SYSTEM
from irflow.notifiers.memory import MemoryNotifier
from irflow.testing import MovableClock
from tests.conftest import START
from tests.engine.inquiries import JLIS, ask, assert_replays_and_verifies, jst
from tests.engine.ladders import escalated, open_sanjo, rungs
from tests.engine.notices import crash_after_effects, open_case

INCIDENT = bundled_flow("incident")
SANJO, NIIGATA, OPERATOR = "sanjo", "pref-niigata", "mic-mynumber"
ACTORS = {"reporter": SANJO, "coordinator": NIIGATA, "operator": OPERATOR}
DETECT = ["detect_anomaly", "report_status", "coordinator_report_status",
          "receive_occurrence_report"]  # fmt: skip
WHOLE_CASE = [*DETECT, "analyse_event", "receive_analysis", "analyse_failure",
              "contact_agencies", "carry_out_response", "operator_response", "receive_results",
              "operator_receive_results", "confirm_recovery", "receive_completion",
              "announce_status"]  # fmt: skip

#: The standard ladder: (rung, action, how long after the deadline it falls due).
LADDER = [
    (1, "remind", timedelta(0)),
    (2, "notify", timedelta(minutes=30)),
    (3, "mark_overdue", timedelta(hours=2)),
]
TICK = timedelta(microseconds=1)


def do(engine: Engine, case_id: int, *steps: str) -> None:
    """Complete ``steps`` in order, each by the participant of its tier in 三条市's case."""
    for step in steps:
        engine.advance(case_id, step, actor=ACTORS[INCIDENT.steps[step].tier])


# --------------------------------------------------------------------------- the ladder


@pytest.mark.parametrize(
    ("before", "step", "owner", "supervisor"),
    [
        (DETECT[:1], "report_status", SANJO, NIIGATA),
        (DETECT[:2], "coordinator_report_status", NIIGATA, OPERATOR),
        (DETECT[:3], "receive_occurrence_report", OPERATOR, OPERATOR),
    ],
    ids=["reporter-step", "coordinator-step", "operator-step"],
)
def test_case_left_alone_climbs_its_whole_ladder_once_in_order_on_time(
    engine: Engine,
    clock: MovableClock,
    before: list[str],
    step: str,
    owner: str,
    supervisor: str,
) -> None:
    """A step nobody does is reminded, escalated and marked overdue: once each, exactly on time."""
    case_id = open_sanjo(engine)
    do(engine, case_id, *before)  # all at START: the earlier steps never fall due
    deadline = START + timedelta(hours=1)  # the three steps' deadline is 1h
    dues = [deadline + after for _, _, after in LADDER]
    moments = {START + timedelta(minutes=5 * i) for i in range(45)}
    moments |= {due - TICK for due in dues} | set(dues)

    fired = []
    for moment in sorted(moments):
        clock.set(moment)
        fired += [(moment, f.step, f.rung, f.action, f.told) for f in engine.sweep()]
        listed = [c.id for c in engine.cases(overdue=True, viewer=SYSTEM)]
        assert listed == ([case_id] if moment >= dues[0] else []), moment

    assert fired == [
        (dues[0], step, 1, "remind", (owner,)),
        (dues[1], step, 2, "notify", (supervisor,)),
        (dues[2], step, 3, "mark_overdue", ()),
    ]
    events = escalated(engine, case_id)
    assert [(e.actor, e.step, e.at, e.from_state, e.to_state) for e in events] == [
        (None, step, due, "detect", "detect") for due in dues
    ]
    for event, (rung, action, after) in zip(events, LADDER, strict=True):
        assert event.payload["rung"] == rung
        assert event.payload["action"] == action
        assert datetime.fromisoformat(event.payload["deadline"]) == deadline
        assert datetime.fromisoformat(event.payload["due_at"]) == deadline + after
    assert [e.payload["told"] for e in events] == [[owner], [supervisor], []]
    notify = events[1].payload
    if supervisor == owner:
        assert "contact_plan" not in notify  # the operator's own step: nobody else to phone
    else:
        phones = [s for s in notify["contact_plan"]["steps"] if s["action"] == "phone"]
        assert phones, notify["contact_plan"]
        assert phones[0]["number"] == engine.organisation(owner).daytime_phone
    (chain,) = engine.verify(case_id, viewer=SYSTEM)
    assert chain.ok, chain.problem
    view = engine.case(case_id, viewer=SYSTEM)
    assert [(d.step, d.rung, d.fired_at) for d in view.deadlines] == [
        (step, rung, due) for (rung, _, _), due in zip(LADDER, dues, strict=True)
    ]
    clock.advance(timedelta(days=30))
    assert engine.sweep() == []
    assert len(escalated(engine, case_id)) == 3


def test_first_step_deadline_counts_from_the_case_opening(
    engine: Engine, clock: MovableClock
) -> None:
    """A new case's first step gets its three rungs at opening, due from the moment it opened."""
    case_id = open_sanjo(engine)
    deadline = START + timedelta(minutes=30)  # detect_anomaly: 30m
    assert [(d.step, d.rung, d.action, d.deadline_at, d.due_at, d.fired_at)
            for d in engine.deadlines(case_id, viewer=SYSTEM)] == [
        ("detect_anomaly", rung, action, deadline, deadline + after, None)
        for rung, action, after in LADDER
    ]  # fmt: skip
    assert engine.next_deadline() == deadline
    clock.set(deadline - TICK)
    assert engine.sweep() == []
    clock.set(deadline)
    assert [(f.step, f.rung) for f in engine.sweep()] == [("detect_anomaly", 1)]
    assert engine.next_deadline() == deadline + timedelta(minutes=30)


def test_completing_a_step_removes_its_rungs_and_the_overdue_mark(
    engine: Engine, clock: MovableClock
) -> None:
    """A done step's unfired rungs never fire, and its case leaves the overdue list."""
    case_id = open_sanjo(engine)
    clock.set(START + timedelta(minutes=31))
    assert [f.action for f in engine.sweep()] == ["remind"]
    assert [c.id for c in engine.cases(overdue=True, viewer=SYSTEM)] == [case_id]

    clock.set(START + timedelta(minutes=40))
    do(engine, case_id, "detect_anomaly")
    assert {d.step for d in engine.deadlines(case_id, viewer=SYSTEM)} == {"report_status"}
    assert all(d.fired_at is None for d in engine.deadlines(case_id, viewer=SYSTEM))
    assert engine.cases(overdue=True, viewer=SYSTEM) == []

    clock.set(START + timedelta(days=1))
    fired = engine.sweep()
    assert [(f.step, f.rung) for f in fired] == [("report_status", n) for n, _, _ in LADDER]
    assert rungs(engine, case_id) == [
        ("detect_anomaly", 1, "remind"),
        *(("report_status", n, action) for n, action, _ in LADDER),
    ]
    (chain,) = engine.verify(case_id, viewer=SYSTEM)
    assert chain.ok


def test_deadlines_follow_the_open_steps_until_the_case_closes(engine: Engine) -> None:
    """At every point the rungs on file are those of the open required steps; closed, none."""
    case_id = open_sanjo(engine)
    for step in WHOLE_CASE:
        view = engine.case(case_id, viewer=SYSTEM)
        open_required = {s.id for s in view.steps if s.status == "open" and s.required}
        assert {d.step for d in view.deadlines} == open_required, step
        assert len(view.deadlines) == 3 * len(open_required)
        do(engine, case_id, step)
    assert engine.case(case_id, viewer=SYSTEM).state == "closed"
    assert engine.deadlines(case_id, viewer=SYSTEM) == []
    assert engine.next_deadline() is None
    assert engine.sweep(START + timedelta(days=365)) == []


# --------------------------------------------------------------------------- working time


@pytest.mark.parametrize(
    ("opened", "deadline"),
    [
        # Monday before the year-end closure (29 Dec - 3 Jan): due the first Monday after.
        (datetime(2026, 12, 28, 10, tzinfo=JST), datetime(2027, 1, 4, 10, tzinfo=JST)),
        # Friday before a weekend, 敬老の日, 国民の休日 and 秋分の日 (21-23 Sep 2026).
        (datetime(2026, 9, 18, 10, tzinfo=JST), datetime(2026, 9, 24, 10, tzinfo=JST)),
        # Saturday: counting starts Monday 00:00, so one working day ends Tuesday 00:00.
        (datetime(2026, 11, 28, 10, tzinfo=JST), datetime(2026, 12, 1, 0, tzinfo=JST)),
    ],
    ids=["year-end", "holidays", "saturday"],
)
def test_working_day_deadline_skips_closed_days(
    engine: Engine, clock: MovableClock, opened: datetime, deadline: datetime
) -> None:
    """A "1 working day" step falls due on the administrative calendar, and climbs from there."""
    clock.set(opened)
    case_id = open_sanjo(engine)
    do(engine, case_id, *DETECT)  # analyse_event opens now
    rows = engine.deadlines(case_id, viewer=SYSTEM)
    assert [(d.step, d.opened_at, d.deadline_at, d.due_at) for d in rows] == [
        ("analyse_event", opened, deadline, deadline + after) for _, _, after in LADDER
    ]
    moments = {opened + timedelta(hours=6 * i) for i in range(40)}
    moments = {m for m in moments if m < deadline + timedelta(hours=3)}
    moments |= {deadline + after - TICK for _, _, after in LADDER}
    moments |= {deadline + after for _, _, after in LADDER}
    fired = []
    for moment in sorted(moments):
        clock.set(moment)
        fired += [(moment, f.rung, f.action) for f in engine.sweep()]
    assert fired == [(deadline + after, rung, action) for rung, action, after in LADDER]
    assert [e.at for e in escalated(engine, case_id)] == [deadline + a for _, _, a in LADDER]


# --------------------------------------------------------------------------- concurrency


def _other_engine(engine: Engine, clock: MovableClock) -> Engine:
    """An engine of its own (own pool) on ``engine``'s database and clock."""
    url = engine.sa.url.render_as_string(hide_password=False)
    return Engine(url, clock=clock)


def _pause_first_call(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, thread: Callable[[], Any]
) -> tuple[threading.Event, threading.Event]:
    """Make the first call of ``owner.name`` from ``thread()`` wait: (entered, release)."""
    entered, release = threading.Event(), threading.Event()
    original = getattr(owner, name)
    armed = [True]

    def paused(*args: Any, **kwargs: Any) -> Any:
        if armed[0] and threading.current_thread() is thread():
            armed[0] = False
            entered.set()
            assert release.wait(10), "never released"
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, paused)
    return entered, release


def _signal_after_first_call(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, thread: Callable[[], Any]
) -> threading.Event:
    """An event set once the first call of ``owner.name`` from ``thread()`` has returned."""
    returned = threading.Event()
    original = getattr(owner, name)

    def signalling(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if threading.current_thread() is thread():
            returned.set()
        return result

    monkeypatch.setattr(owner, name, signalling)
    return returned


def _let_run(engine: Engine, outcome: Outcome) -> None:
    """Give a sweep time to meet the locks held: on PostgreSQL it must not wait for them."""
    if engine.ledger.sqlite:
        outcome.thread.join(0.3)  # one writer at a time: it waits for the lock
    else:
        outcome.thread.join(10)
        assert not outcome.thread.is_alive(), "the sweep waited for a lock on PostgreSQL"


class Outcome:
    """What a command run in a thread returned or raised."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(call,), daemon=True)

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.value = call()
        except BaseException as exc:
            self.error = exc

    def start(self) -> Outcome:
        self.thread.start()
        return self

    def join(self) -> Outcome:
        self.thread.join(20)
        assert not self.thread.is_alive(), "still running"
        return self


def test_step_done_while_its_rung_fires_runs_again_after_it_not_deadlocked(
    engine: Engine, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command racing a sweep that fires its step's rung loses the race, never
    deadlocks, and runs again on the case as the sweep left it."""
    case_id = open_sanjo(engine)
    clock.set(START + timedelta(minutes=31))
    other = _other_engine(engine, clock)
    try:
        sweep = Outcome(engine.sweep)
        entered, release = _pause_first_call(
            monkeypatch, escalation, "participants", lambda: sweep.thread
        )
        sweep.start()
        assert entered.wait(10)  # the sweep has claimed the rung and is firing it
        command = Outcome(lambda: other.advance(case_id, "detect_anomaly", actor=SANJO))
        loaded = _signal_after_first_call(monkeypatch, Ledger, "load", lambda: command.thread)
        command.start()
        assert loaded.wait(10)  # the command has read the case, at the version before the rung
        time.sleep(0.2)  # and is now waiting for the sweep's transaction
        release.set()
        sweep.join()
        command.join()
        assert sweep.error is None
        assert [(f.step, f.rung) for f in sweep.value] == [("detect_anomaly", 1)]
        assert command.error is None, command.error
        actions = [e.action for e in engine.timeline(case_id, viewer=SYSTEM)]
        assert actions == ["opened", "escalated", "step_completed"]
        assert command.value.version == len(actions)
    finally:
        other.close()
    assert {d.step for d in engine.deadlines(case_id, viewer=SYSTEM)} == {"report_status"}
    assert rungs(engine, case_id) == [("detect_anomaly", 1, "remind")]
    (chain,) = engine.verify(case_id, viewer=SYSTEM)
    assert chain.ok


def test_sweep_during_a_command_on_the_same_step_fires_nothing_and_blocks_nothing(
    engine: Engine, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep meeting a command that completes the due step skips it; the command succeeds."""
    case_id = open_sanjo(engine)
    clock.set(START + timedelta(minutes=31))
    other = _other_engine(engine, clock)
    try:
        command = Outcome(lambda: engine.advance(case_id, "detect_anomaly", actor=SANJO))
        # Ledger.insert_event runs right after the guarded UPDATE of the case row.
        entered, release = _pause_first_call(
            monkeypatch, Ledger, "insert_event", lambda: command.thread
        )
        command.start()
        assert entered.wait(10)  # the command holds the case row, uncommitted
        sweep = Outcome(other.sweep).start()
        _let_run(engine, sweep)  # PostgreSQL: skips the busy case at once; SQLite: waits
        release.set()
        command.join()
        sweep.join()
    finally:
        other.close()
    assert command.error is None, command.error
    assert sweep.error is None, sweep.error
    assert sweep.value == []
    assert {d.step for d in engine.deadlines(case_id, viewer=SYSTEM)} == {"report_status"}
    assert rungs(engine, case_id) == []


def test_later_rungs_wait_for_an_earlier_rung_another_sweeper_is_firing(
    engine: Engine, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one sweeper fires a case's first rung, no other fires its later rungs ahead of it."""
    case_id = open_sanjo(engine)
    clock.set(START + timedelta(hours=3))  # all three rungs due
    other = _other_engine(engine, clock)
    try:
        first = Outcome(engine.sweep)
        entered, release = _pause_first_call(
            monkeypatch, escalation, "participants", lambda: first.thread
        )
        first.start()
        assert entered.wait(10)  # the first sweeper holds rung 1
        second = Outcome(other.sweep).start()
        _let_run(engine, second)  # PostgreSQL: skips the busy case at once; SQLite: waits
        release.set()
        first.join()
        second.join()
    finally:
        other.close()
    assert first.error is None, first.error
    assert second.error is None, second.error
    both = [(f.rung, f.action) for f in [*first.value, *second.value]]
    assert sorted(both) == [(n, a) for n, a, _ in LADDER]
    assert rungs(engine, case_id) == [("detect_anomaly", n, a) for n, a, _ in LADDER]
    (chain,) = engine.verify(case_id, viewer=SYSTEM)
    assert chain.ok


# --------------------------------------------------------------------------- the Runner


# --------------------------------------------------------------------------- irflow sweep


def test_a_late_flag_moves_the_deadlines_with_the_steps(engine: Engine) -> None:
    """A flag that makes a waiting step required drops the rungs of the steps that now wait.

    Declaring beyond_own_capacity after the analysis was reported puts
    receive_analysis back to waiting behind investigate_event: its rungs go, the
    investigation's come, and the case can still move on to close.
    """
    case_id = engine.open_case(
        reporter=SANJO, title="サンプル", kinds=["security_incident"]
    ).case_id
    do(
        engine,
        case_id,
        "detect_anomaly",
        "report_status",
        "coordinator_report_status",
        "receive_occurrence_report",
        "analyse_event",
    )
    assert {d.step for d in engine.deadlines(case_id, viewer=SYSTEM)} == {
        "receive_analysis",
        "report_to_nisc",
    }
    engine.advance(case_id, "report_to_nisc", actor=SANJO, declare=["beyond_own_capacity"])
    assert {d.step for d in engine.deadlines(case_id, viewer=SYSTEM)} == {"investigate_event"}
    do(engine, case_id, "investigate_event")
    assert {d.step for d in engine.deadlines(case_id, viewer=SYSTEM)} == {"receive_analysis"}
    do(
        engine,
        case_id,
        "receive_analysis",
        "analyse_failure",
        "contact_agencies",
        "carry_out_response",
        "operator_response",
        "receive_results",
        "operator_receive_results",
        "confirm_recovery",
        "receive_completion",
        "announce_status",
    )
    assert engine.case(case_id, viewer=SYSTEM).state == "closed"
    assert engine.deadlines(case_id, viewer=SYSTEM) == []


def test_a_rung_that_cannot_fire_does_not_hold_back_the_others(
    engine: Engine, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rung whose firing fails stays unfired for the next sweep; later rungs still fire."""
    first = open_sanjo(engine)
    second = open_sanjo(engine, at=START + timedelta(minutes=1))
    real_fire = escalation._fire

    def fire(ctx: Any, recorder: Any, conn: Any, due: Any, now: datetime) -> Any:
        if due.case_id == first:
            raise RuntimeError("サンプル: a broken rung")
        return real_fire(ctx, recorder, conn, due, now)

    monkeypatch.setattr(escalation, "_fire", fire)
    clock.set(START + timedelta(minutes=31))  # both first rungs due, the first case's earlier
    fired = engine.sweep()
    assert [(f.case_id, f.rung) for f in fired] == [(second, 1)]
    assert [d.fired_at for d in engine.deadlines(first, viewer=SYSTEM)] == [None, None, None]
    monkeypatch.setattr(escalation, "_fire", real_fire)
    assert [(f.case_id, f.rung) for f in engine.sweep()] == [(first, 1)]


def sweep_through(engine: Engine, start: datetime, end: datetime) -> list[tuple[datetime, Any]]:
    """Sweep every 3 hours from ``start`` up to ``end`` (inclusive), and at ``end``."""
    fired = []
    moment = start
    while moment < end:
        fired += [(moment, f) for f in engine.sweep(moment)]
        moment += timedelta(hours=3)
    fired += [(end, f) for f in engine.sweep(end)]
    return fired


def fired_as(
    fired: list[tuple[datetime, Any]],
) -> list[tuple[datetime, str, int, str, tuple[str, ...]]]:
    """(when, duty, rung, action, whom it told) of each fired rung."""
    return [(m, f.step, f.rung, f.action, f.told) for m, f in fired]


def sweep_at(engine: Engine, at: datetime) -> list[tuple[datetime, Any]]:
    return [(at, f) for f in engine.sweep(at)]


def test_unanswered_inquiry_reminds_the_holder_then_tells_its_reception_tier(
    engine: Engine,
) -> None:
    """inquiry.yaml: asking has 2 working days; at the deadline the holder (新潟県) is
    reminded, one working day later its reception tier (J-LIS) is told. Asked Friday
    18 September 2026 before a weekend, 敬老の日, 国民の休日 and 秋分の日 (19-23 Sep):
    the deadline is Friday 25 September 10:00, J-LIS hears on Monday 28 September."""
    asked = jst(9, 18, 10)
    case_id = ask(engine, at=asked)
    deadline, notify = jst(9, 25, 10), jst(9, 28, 10)
    assert [(d.step, d.rung, d.action, d.opened_at, d.deadline_at, d.due_at)
            for d in engine.deadlines(case_id, viewer=SYSTEM)] == [
        ("asking", 1, "remind", asked, deadline, deadline),
        ("asking", 2, "notify", asked, deadline, notify),
    ]  # fmt: skip
    tick = timedelta(microseconds=1)
    assert sweep_through(engine, asked, deadline - tick) == []  # nothing fires before
    assert fired_as(sweep_at(engine, deadline)) == [(deadline, "asking", 1, "remind", (NIIGATA,))]
    assert engine.cases(flow="inquiry", viewer=SANJO)[0].overdue
    assert engine.cases(flow="inquiry", viewer=JLIS) == []  # not reached yet
    assert sweep_through(engine, deadline + tick, notify - tick) == []
    assert fired_as(sweep_at(engine, notify)) == [(notify, "asking", 2, "notify", (JLIS,))]
    # Telling J-LIS brought the inquiry to it: it joins the chain and may read what it
    # was told about, while 新潟県 still holds it.
    view = engine.case(case_id, viewer=JLIS)
    assert [o.id for o in view.chain] == [SANJO, NIIGATA, JLIS]
    assert view.holder is not None
    assert view.holder.id == NIIGATA
    assert engine.sweep(notify + timedelta(days=30)) == []  # each rung fires once
    escalated = [e for e in engine.timeline(case_id, viewer=SYSTEM) if e.action == "escalated"]
    assert [(e.at, e.step, e.actor, e.payload["action"], e.payload["told"]) for e in escalated] == [
        (deadline, "asking", None, "remind", [NIIGATA]),
        (notify, "asking", None, "notify", [JLIS]),
    ]
    mails = [r for r in engine.outbox() if r.template == "mail_escalation"]
    assert [json.loads(r.recipients) for r in mails] == [[NIIGATA], [JLIS]]
    assert engine.replay(case_id, viewer=SYSTEM) == "asking"


def test_escalation_moves_the_deadline_to_the_new_holder_and_relays_have_their_own(
    engine: Engine,
) -> None:
    """Once 新潟県 escalates, its own rungs are gone (J-LIS is not told of its lateness)
    and J-LIS's 2 working days count from the escalation; J-LIS late is reminded, then
    the operator is told. The answer's relay (relaying) has 1 working day of its own,
    counted on working days; the asker's answered state has none."""
    tick = timedelta(microseconds=1)
    case_id = ask(engine, at=jst(9, 18, 10))
    assert fired_as(sweep_at(engine, jst(9, 25, 10))) == [
        (jst(9, 25, 10), "asking", 1, "remind", (NIIGATA,))
    ]
    engine.advance(case_id, "escalate", actor=NIIGATA, note="J-LISへ", at=jst(9, 25, 15))
    assert [(d.step, d.action, d.opened_at, d.deadline_at, d.due_at, d.fired_at)
            for d in engine.deadlines(case_id, viewer=SYSTEM)] == [
        ("asking", "remind", jst(9, 25, 15), jst(9, 29, 15), jst(9, 29, 15), None),
        ("asking", "notify", jst(9, 25, 15), jst(9, 29, 15), jst(9, 30, 15), None),
    ]  # fmt: skip
    assert not engine.cases(flow="inquiry", viewer=SANJO)[0].overdue
    # 新潟県's notify (due Monday 28th 10:00) never fires; J-LIS's rungs do, in turn.
    assert sweep_through(engine, jst(9, 25, 15), jst(9, 29, 15) - tick) == []
    assert fired_as(sweep_at(engine, jst(9, 29, 15))) == [
        (jst(9, 29, 15), "asking", 1, "remind", (JLIS,))
    ]
    assert fired_as(sweep_at(engine, jst(9, 30, 15))) == [
        (jst(9, 30, 15), "asking", 2, "notify", (OPERATOR,))
    ]

    # J-LIS answers on Friday afternoon: 新潟県 has until Monday to relay it.
    engine.advance(case_id, "answer", actor=JLIS, note="回答", at=jst(10, 2, 16))
    assert [(d.step, d.action, d.opened_at, d.deadline_at, d.due_at)
            for d in engine.deadlines(case_id, viewer=SYSTEM)] == [
        ("relaying", "remind", jst(10, 2, 16), jst(10, 5, 16), jst(10, 5, 16)),
        ("relaying", "notify", jst(10, 2, 16), jst(10, 5, 16), jst(10, 6, 16)),
    ]  # fmt: skip
    assert sweep_through(engine, jst(10, 2, 16), jst(10, 5, 16) - tick) == []
    assert fired_as(sweep_through(engine, jst(10, 5, 16), jst(10, 6, 16))) == [
        (jst(10, 5, 16), "relaying", 1, "remind", (NIIGATA,)),
        (jst(10, 6, 16), "relaying", 2, "notify", (JLIS,)),
    ]
    engine.advance(case_id, "relay", actor=NIIGATA, at=jst(10, 6, 17))
    assert engine.deadlines(case_id, viewer=SYSTEM) == []
    assert engine.sweep(jst(12, 1, 10)) == []

    escalated = [e for e in engine.timeline(case_id, viewer=SYSTEM) if e.action == "escalated"]
    assert [(e.at, e.step, e.payload["action"], e.payload["told"]) for e in escalated] == [
        (jst(9, 25, 10), "asking", "remind", [NIIGATA]),
        (jst(9, 29, 15), "asking", "remind", [JLIS]),
        (jst(9, 30, 15), "asking", "notify", [OPERATOR]),
        (jst(10, 5, 16), "relaying", "remind", [NIIGATA]),
        (jst(10, 6, 16), "relaying", "notify", [JLIS]),
    ]
    assert_replays_and_verifies(engine, case_id)


def test_year_end_closure_holds_the_deadline(engine: Engine) -> None:
    """irflow's calendar: 29 December to 3 January are closed days. An inquiry asked on
    Monday 28 December 2026 (the last working day) is due two working days later:
    Tuesday 5 January 2027."""
    case_id = ask(engine, at=jst(12, 28, 10))
    (remind, notify) = engine.deadlines(case_id, viewer=SYSTEM)
    assert remind.deadline_at == datetime(2027, 1, 5, 10, tzinfo=JST)
    assert notify.due_at == datetime(2027, 1, 6, 10, tzinfo=JST)


def test_rolled_back_rung_is_not_fired_and_the_next_sweep_fires_it_once(
    notified: Engine, memory: MemoryNotifier, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep failing before its commit fires and queues nothing; the next sweep fires it once."""
    case_id = open_case(notified)
    clock.set(START + timedelta(minutes=30))
    crash_after_effects(monkeypatch)
    assert notified.sweep() == []  # the crash is logged; the sweep goes on, firing nothing
    assert [d.fired_at for d in notified.deadlines(case_id, viewer=SYSTEM)] == [None, None, None]
    assert notified.outbox() == []
    assert [e.action for e in notified.timeline(case_id, viewer=SYSTEM)] == ["opened"]
    assert notified.drain().sent == []

    assert [f.action for f in notified.sweep()] == ["remind"]
    assert notified.sweep() == []
    notified.drain()
    assert [m.kind for m in memory.sent] == ["escalation"]


def test_a_sweep_told_to_stop_fires_no_further_rung(engine: Engine, clock: MovableClock) -> None:
    """A sweep told to stop fires nothing more; the rungs left fire at the next sweep."""
    for _ in range(4):
        open_case(engine)
    clock.advance(timedelta(hours=3))  # every case's first rungs are due
    calls: list[int] = []

    def after_one() -> bool:
        calls.append(1)
        return len(calls) > 1

    assert len(engine.sweep(stopping=after_one)) == 1
    rest = engine.sweep()
    assert len(rest) >= 3
    assert engine.sweep() == []
