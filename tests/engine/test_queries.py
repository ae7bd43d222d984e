"""Listing cases a page at a time, on every backend.

The pages of ``Engine.cases`` are read by key (``id > after ORDER BY id LIMIT n``)
with every filter in the statement, including who may see a private flow's case.
The oracle here is the list as irflow made it before pages: every row read, then
``rules.visible`` and the filters applied in Python.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import Session, col

from irflow.engine import rules
from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM, Viewer
from irflow.engine.tables import CaseRow, DeadlineRow
from irflow.errors import InvalidInput
from irflow.testing import MovableClock
from tests.conftest import START
from tests.engine.cases import INCIDENT, open_sanjo
from tests.engine.notices import ABNORMAL, reported
from tests.engine.rows import (
    EXAMPLES,
    FIRST_ID,
    JLIS,
    MIC,
    NIIGATA,
    OPERATOR,
    POOL,
    SANJO,
    Spec,
    specs,
    write,
)


def unpaged(
    engine: Engine, *, state: str | None, flow: str | None, overdue: bool, viewer: Viewer
) -> list[int]:
    """The list as it was before pages: every row read, visibility and filters in Python."""
    with Session(engine.sa) as session:
        rows = session.exec(select(CaseRow).order_by(col(CaseRow.id))).scalars().all()  # type: ignore[call-overload]
        late = set(
            session.exec(select(DeadlineRow.case_id).where(col(DeadlineRow.fired_at).is_not(None)))  # type: ignore[call-overload]
            .scalars()
            .all()
        )
    return [
        r.id
        for r in rows
        if (state is None or r.state == state)
        and (flow is None or r.flow == flow)
        and (not overdue or r.id in late)
        and rules.visible(r, viewer)
    ]


def test_pages_follow_one_another_without_gaps_or_repeats(seeded: Engine) -> None:
    """Walking the pages with ``after`` (the last number shown) gives exactly the whole
    filtered list, in order, whatever the page size, filters and viewer."""
    states = {name: sorted(f.states) for name, (f, _v) in seeded.flows().items()}
    all_states = sorted({s for ss in states.values() for s in ss})

    @EXAMPLES
    @given(
        cases=specs(states),
        limit=st.integers(1, 6),
        viewer=st.just(SYSTEM) | st.sampled_from(POOL),
        flow=st.none() | st.sampled_from(sorted(states)),
        state=st.none() | st.sampled_from(all_states),
        overdue=st.booleans(),
    )
    def walk(
        cases: list[Spec],
        limit: int,
        viewer: Viewer,
        flow: str | None,
        state: str | None,
        overdue: bool,
    ) -> None:
        if state is not None and state not in (states[flow] if flow else all_states):
            state = None  # a state no case of the flow can be in is refused (tested below)
        write(seeded, cases)
        filters = {"state": state, "flow": flow, "overdue": overdue, "viewer": viewer}
        walked: list[int] = []
        after = 0
        while True:
            page = seeded.cases(**filters, limit=limit, after=after)  # type: ignore[arg-type]
            assert len(page) <= limit
            walked += [c.id for c in page]  # type: ignore[misc]
            if len(page) < limit:
                break
            after = page[-1].id  # type: ignore[assignment]
        assert walked == unpaged(seeded, **filters)  # type: ignore[arg-type]

    walk()


def test_overdue_marks_match_the_fired_rungs(seeded: Engine) -> None:
    """A listed case is marked overdue exactly when one of its rungs has fired."""
    states = {name: sorted(f.states) for name, (f, _v) in seeded.flows().items()}

    @EXAMPLES
    @given(cases=specs(states), viewer=st.sampled_from(POOL))
    def marks(cases: list[Spec], viewer: str) -> None:
        write(seeded, cases)
        listed = {c.id: c.overdue for c in seeded.cases(viewer=viewer, limit=1000)}
        late = set(unpaged(seeded, state=None, flow=None, overdue=True, viewer=viewer))
        assert {i for i, marked in listed.items() if marked} == late

    marks()


def test_private_case_is_listed_to_its_chain_only(seeded: Engine) -> None:
    """A chain flow's case is listed to the links its chain reached, whatever its
    tier columns say; an id inside another (mic in mic-mynumber) is not a link."""
    tiers = (JLIS, JLIS, JLIS)
    write(seeded, [Spec(1, "inquiry", "asking", tiers, (SANJO, OPERATOR), False, False)])
    listed = {
        who: [c.id for c in seeded.cases(viewer=who, flow="inquiry") if c.id >= FIRST_ID]  # type: ignore[operator]
        for who in POOL
    }
    assert listed[SANJO] == listed[OPERATOR] == [FIRST_ID + 1]
    assert listed[MIC] == listed[JLIS] == listed[NIIGATA] == []


@pytest.mark.parametrize(
    ("limit", "after", "words"),
    [
        (0, 0, "limit 0 is out of range; give a limit from 1 to 1000"),
        (1001, 0, "limit 1001 is out of range; give a limit from 1 to 1000"),
        (-5, 0, "limit -5 is out of range"),
        (50, -1, "after -1 is negative; give 0 (the first page) or the last case number"),
    ],
)
def test_page_out_of_range_is_refused_before_any_read(
    db_url: str, limit: int, after: int, words: str
) -> None:
    """A limit outside 1..1000 or a negative ``after`` is refused naming the range, even
    on a database not set up yet (nothing is read, nothing written)."""
    with Engine(db_url) as fresh, pytest.raises(InvalidInput, match=re.escape(words)):
        fresh.cases(viewer=SYSTEM, limit=limit, after=after)
    with Engine(db_url) as fresh, pytest.raises(InvalidInput, match="irflow init"):
        fresh.cases(viewer=SYSTEM)  # still not set up: the refusal wrote nothing


def test_a_page_is_at_most_the_limit_and_starts_after(seeded: Engine) -> None:
    """The first page of three cases by two, then the rest, then nothing."""
    write(seeded, [Spec(1, "incident", "closed", (SANJO, NIIGATA, OPERATOR), (), False, False)])
    ids = [1, 2, FIRST_ID + 1]
    visible = [c.id for c in seeded.cases(viewer=SANJO)]
    assert visible == ids
    assert [c.id for c in seeded.cases(viewer=SANJO, limit=2)] == ids[:2]
    assert [c.id for c in seeded.cases(viewer=SANJO, limit=2, after=2)] == ids[2:]
    assert seeded.cases(viewer=SANJO, after=FIRST_ID + 1) == []


def test_step_views_list_every_step_with_its_status(engine: Engine) -> None:
    """A new case lists every step of its flow: the first one open, the rest waiting."""
    view = engine.case(open_sanjo(engine), viewer=SYSTEM)
    statuses = {s.id: s.status for s in view.steps}
    assert statuses["detect_anomaly"] == "open"
    assert set(statuses.values()) == {"open", "waiting"}
    assert "report_to_nisc" not in statuses  # only a security incident has it
    assert statuses.keys() == {
        s for s in INCIDENT.steps if s not in ("report_to_nisc", "report_to_ppc")
    }


def test_site_posts_are_read_only_by_the_poster_and_the_named(
    notified: Engine, clock: MovableClock
) -> None:
    """A 06 post is visible to its poster and the agencies it names; an outsider sees none."""
    case_id = reported(notified)
    clock.set(START + timedelta(hours=3))  # coordinator_report_status (due 11:00) escalates
    fired = notified.sweep()
    assert [(f.step, f.action) for f in fired] == [
        ("coordinator_report_status", "remind"),
        ("coordinator_report_status", "notify"),
        ("coordinator_report_status", "mark_overdue"),
    ]
    notified.drain()
    report = f"c{case_id}.e3.n0.site"
    remind, notify = f"c{case_id}.e4.n0.site", f"c{case_id}.e5.n0.site"
    assert [p.id for p in notified.posts(SANJO)] == [report]  # its poster
    assert [p.id for p in notified.posts(NIIGATA)] == [report, remind]  # named; reminded
    assert [p.id for p in notified.posts(OPERATOR)] == [notify]  # told the coordinator is late
    assert notified.posts("kanazawa") == []
    assert notified.posts("pref-ishikawa") == []
    assert {p.category for p in notified.posts(NIIGATA)} == {ABNORMAL}
