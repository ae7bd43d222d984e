"""The actions of flows of states, walked through the inquiry chain (問合せ), as the people
in it see it, on every backend.

Rules from the seed (情報共有サイト利用マニュアル: 「情報提供ネットワークシステム運営主体に
問合せをする」「市区町村からの問合せに回答する」) and shared/DOMAIN.md section 4:

- check the FAQ (02.FAQ・問合せ > 01.FAQ) before asking;
- a municipality posts in its own 【問合せ】 box; the inquiry reaches its prefecture's
  【受付】 box and the prefecture is told; a prefecture's own inquiry reaches J-LIS;
- a receiver answers (the answer posted in its 【受付】 box) or adds its name and
  escalates (posting in its own 【問合せ】 box) to the tier above: prefecture ->
  J-LIS -> operator, and the operator can only answer;
- the answer comes back down the same chain, operator -> J-LIS -> prefecture ->
  municipality, each hop told;
- only the asker and the receivers it reached see the inquiry.

The time limits are irflow's own (inquiry.yaml: 2 working days to answer or escalate,
1 working day to relay an answer; remind the holder at the deadline, tell its
reception tier one working day later).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from irflow.engine import forms
from irflow.engine.facade import Engine
from irflow.engine.flow import bundled_flow, parse_flow
from irflow.engine.rules import SYSTEM
from irflow.engine.tables import OutboxRow
from irflow.errors import InvalidInput, NotAllowed, NotFound, StepNotOpen
from irflow.notifiers.memory import MemoryNotifier
from irflow.testing import MovableClock
from tests.engine.inquiries import (
    JLIS,
    NIIGATA,
    OPERATOR,
    QUESTION,
    SANJO,
    T0,
    ask,
    assert_replays_and_verifies,
    chain_of,
    footprint,
    hour,
    not_found_message,
)

NAMES = {
    SANJO: "三条市",
    NIIGATA: "新潟県",
    JLIS: "地方公共団体情報システム機構",
    OPERATOR: "総務省大臣官房企画課個人番号企画室",
}


INQUIRIES = "02.FAQ・問合せ > 03.問合せ"
CHANNELS = ["memory", "site"]


def box(kind: str, poster: str) -> str:
    """The site category of a post in ``poster``'s 【問合せ】 or 【受付】 box."""
    return f"{INQUIRIES} > {kind}{NAMES[poster]}"


@pytest.fixture
def inquiries(engine: Engine, clock: MovableClock) -> Iterator[Engine]:
    """An engine with one notifier besides the site, on the ``engine`` fixture's database."""
    url = engine.sa.url.render_as_string(hide_password=False)
    eng = Engine(url, clock=clock, notifiers=[MemoryNotifier()])
    try:
        yield eng
    finally:
        eng.close()


@dataclass(frozen=True)
class Notice:
    """What one command queued: one row per channel, told apart from the rest."""

    rows: list[OutboxRow]

    @property
    def context(self) -> dict[str, Any]:
        contexts = [json.loads(r.context) for r in self.rows]
        assert all(c == contexts[0] for c in contexts), "every channel carries the same text"
        result: dict[str, Any] = contexts[0]
        return result

    @property
    def form(self) -> dict[str, Any]:
        form: dict[str, Any] = self.context["form"]
        return form


def queued_by(engine: Engine, command: Any) -> Notice:
    """Run ``command`` and return the outbox rows it added."""
    before = {r.id for r in engine.outbox()}
    command()
    return Notice([r for r in engine.outbox() if r.id not in before])


#: (action, actor, state after, holder after) for an inquiry answered at each tier.
TIERS = {
    "prefecture": [("answer", NIIGATA, "answered", SANJO)],
    "jlis": [
        ("escalate", NIIGATA, "asking", JLIS),
        ("answer", JLIS, "relaying", NIIGATA),
        ("relay", NIIGATA, "answered", SANJO),
    ],
    "operator": [
        ("escalate", NIIGATA, "asking", JLIS),
        ("escalate", JLIS, "asking", OPERATOR),
        ("answer", OPERATOR, "relaying", JLIS),
        ("relay", JLIS, "relaying", NIIGATA),
        ("relay", NIIGATA, "answered", SANJO),
    ],
}


#: The poster's box each action posts in: its 【問合せ】 going up, its 【受付】 going down.
BOX = {"escalate": "【問合せ】", "answer": "【受付】", "relay": "【受付】"}


@pytest.mark.parametrize("tier", list(TIERS))
def test_municipality_inquiry_answered_at_each_tier_comes_back_hop_by_hop(
    inquiries: Engine, tier: str
) -> None:
    """Seed/DOMAIN §4 steps 2-5: 三条市's inquiry reaches 新潟県; each receiver answers or
    escalates to the tier above; the answer comes back down the same chain one link at a
    time (operator -> J-LIS -> 新潟県 -> 三条市), each hop one post and one mail to the
    next link only, in the poster's 【問合せ】 (going up) or 【受付】 (going down) box,
    with the 問合せ票 listing every receiver in order and the answer and who gave it."""
    engine = inquiries
    case_id = 0

    def open_it() -> None:
        nonlocal case_id
        case_id = ask(engine)

    asked = queued_by(engine, open_it)
    assert sorted(r.channel for r in asked.rows) == CHANNELS
    for r in asked.rows:
        assert json.loads(r.recipients) == [NIIGATA]
        assert (r.kind, r.template, r.sender_id) == ("inquiry", "mail_inquiry", SANJO)
        assert r.category == box("【問合せ】", SANJO)
        assert (r.case_id, r.event_seq) == (case_id, 1)
    assert asked.context["action"] == "ask"
    assert (asked.context["sender"], asked.context["recipient"]) == ("三条市", "新潟県")
    assert asked.form["asker"] == "三条市"
    assert asked.form["body"] == QUESTION
    assert asked.form["faq_checked"] is True
    assert [h["receiver"] for h in asked.form["hops"]] == ["新潟県"]
    assert asked.form["answer"] is None

    view = engine.case(case_id, viewer=SANJO)
    assert (view.flow, view.state, view.holder and view.holder.id) == ("inquiry", "asking", NIIGATA)
    assert [o.id for o in view.chain] == [SANJO, NIIGATA]
    assert sorted(view.actions) == ["answer", "escalate"]

    reached = [NIIGATA]
    answer: tuple[str, str] | None = None
    told_in_turn = []
    for n, (action, actor, state, holder) in enumerate(TIERS[tier], start=1):
        note = f"{NAMES[actor]}の回答です。" if action == "answer" else f"{NAMES[actor]}より"
        notice = queued_by(
            engine,
            lambda a=action, who=actor, text=note, k=n: engine.advance(
                case_id, a, actor=who, note=text, at=hour(k)
            ),
        )
        if action == "escalate":
            reached.append(holder)
        if action == "answer":
            answer = (note, NAMES[actor])
        view = engine.case(case_id, viewer=SANJO)
        assert (view.state, view.holder and view.holder.id) == (state, holder), (action, actor)
        assert [o.id for o in view.chain] == [SANJO, *reached]
        assert view.timeline[-1].step == action
        assert view.timeline[-1].actor == actor

        # Exactly one message per channel, to the next link only, in the poster's box.
        assert sorted(r.channel for r in notice.rows) == CHANNELS, action
        for r in notice.rows:
            assert json.loads(r.recipients) == [holder]
            assert r.category == box(BOX[action], actor)
            assert (r.template, r.sender_id, r.event_seq) == ("mail_inquiry", actor, n + 1)
        told_in_turn.append(holder)
        assert notice.context["action"] == action
        assert notice.context["sender"] == NAMES[actor]
        assert notice.context["recipient"] == NAMES[holder]
        form = notice.form
        assert [h["receiver"] for h in form["hops"]] == [NAMES[r] for r in reached]
        if answer is None:
            assert form["answer"] is None
        else:
            assert (form["answer"], form["answered_by"]) == answer
        rendered = forms.render_inquiry_form(forms.inquiry_form_from_json(form), format="md")
        for i, receiver in enumerate(reached, start=1):
            assert f"| {i} | {NAMES[receiver]} |" in rendered

    # Down the chain one link at a time, from whoever answered to the asker.
    answerer = next(i for i, step in enumerate(TIERS[tier]) if step[0] == "answer")
    expected_down = [*[NIIGATA, JLIS, OPERATOR][:answerer][::-1], SANJO]
    assert told_in_turn[answerer:] == expected_down
    assert sorted(engine.case(case_id, viewer=SANJO).actions) == ["close", "follow_up"]
    assert engine.case(case_id, viewer=SANJO).deadlines == []
    assert_replays_and_verifies(engine, case_id)


def test_answer_cannot_skip_a_link_on_its_way_down(engine: Engine) -> None:
    """Seed: 回答はJ-LISを経由して都道府県に、都道府県を経由して市区町村に回答される: while
    J-LIS holds the operator's answer, 新潟県 cannot relay it and 三条市 cannot close it."""
    case_id = ask(engine)
    engine.advance(case_id, "escalate", actor=NIIGATA, note="県では不明", at=hour(1))
    engine.advance(case_id, "escalate", actor=JLIS, note="機構では不明", at=hour(2))
    engine.advance(case_id, "answer", actor=OPERATOR, note="手順書のとおり", at=hour(3))
    before = footprint(engine, case_id)
    with pytest.raises(NotAllowed, match="地方公共団体情報システム機構"):
        engine.advance(case_id, "relay", actor=NIIGATA, at=hour(4))
    with pytest.raises(StepNotOpen):
        engine.advance(case_id, "close", actor=SANJO, at=hour(4))
    with pytest.raises(StepNotOpen, match="relaying"):
        engine.advance(case_id, "answer", actor=JLIS, note="別の回答", at=hour(4))
    assert footprint(engine, case_id) == before


def test_follow_up_goes_up_the_same_chain_and_the_form_shows_it(inquiries: Engine) -> None:
    """Seed/inquiry.yaml: after an answer the asker closes or asks a follow-up (追加質問),
    which goes to the first receiver again and up the same chain; escalating again
    reuses the links already reached (no link twice), and the form carries the
    follow-up question under the original one."""
    engine = inquiries
    case_id = ask(engine)
    engine.advance(case_id, "escalate", actor=NIIGATA, note="県では不明", at=hour(1))
    engine.advance(case_id, "answer", actor=JLIS, note="第3章のとおり", at=hour(2))
    engine.advance(case_id, "relay", actor=NIIGATA, at=hour(3))

    follow = queued_by(
        engine,
        lambda: engine.advance(case_id, "follow_up", actor=SANJO, note="第4章は?", at=hour(4)),
    )
    view = engine.case(case_id, viewer=SANJO)
    assert (view.state, view.holder and view.holder.id) == ("asking", NIIGATA)
    assert [o.id for o in view.chain] == [SANJO, NIIGATA, JLIS]
    # 新潟県's 2 working days count again from the follow-up (Wednesday 14:00).
    assert [(d.action, d.opened_at, d.deadline_at) for d in view.deadlines] == [
        ("remind", hour(4), hour(4) + timedelta(days=2)),
        ("notify", hour(4), hour(4) + timedelta(days=2)),
    ]
    assert sorted(r.channel for r in follow.rows) == CHANNELS
    for r in follow.rows:
        assert json.loads(r.recipients) == [NIIGATA]
        assert r.category == box("【問合せ】", SANJO)
    assert follow.context["action"] == "follow_up"
    assert follow.form["body"].startswith(QUESTION)
    assert "第4章は?" in follow.form["body"]
    assert "追加質問" in follow.form["body"]

    again = queued_by(
        engine,
        lambda: engine.advance(case_id, "escalate", actor=NIIGATA, note="再度", at=hour(5)),
    )
    assert [json.loads(r.recipients) for r in again.rows] == [[JLIS], [JLIS]]
    assert chain_of(engine, case_id) == [SANJO, NIIGATA, JLIS]  # J-LIS is not added twice
    assert [h["receiver"] for h in again.form["hops"]] == ["新潟県", "地方公共団体情報システム機構"]
    assert "第4章は?" in again.form["body"]

    engine.advance(case_id, "escalate", actor=JLIS, note="運営主体へ", at=hour(6))
    assert chain_of(engine, case_id) == [SANJO, NIIGATA, JLIS, OPERATOR]
    engine.advance(case_id, "answer", actor=OPERATOR, note="第4章は改訂中", at=hour(7))
    engine.advance(case_id, "relay", actor=JLIS, at=hour(8))
    last = queued_by(engine, lambda: engine.advance(case_id, "relay", actor=NIIGATA, at=hour(9)))
    assert [json.loads(r.recipients) for r in last.rows] == [[SANJO], [SANJO]]
    assert [h["receiver"] for h in last.form["hops"]] == [
        "新潟県", "地方公共団体情報システム機構", "総務省大臣官房企画課個人番号企画室"
    ]  # fmt: skip
    assert (last.form["answer"], last.form["answered_by"]) == ("第4章は改訂中", NAMES[OPERATOR])
    assert engine.case(case_id, viewer=SANJO).state == "answered"
    assert_replays_and_verifies(engine, case_id)


def test_follow_up_heading_in_the_form_is_in_japan_time_in_every_message(
    engine: Engine,
) -> None:
    """DOMAIN §3: all times are Japan time. The follow-up asked at 12:00 reads
    12:00+09:00 in the 問合せ票 of every later hop, as it did when it was asked."""
    case_id = ask(engine)
    engine.advance(case_id, "answer", actor=NIIGATA, note="回答", at=hour(1))
    engine.advance(case_id, "follow_up", actor=SANJO, note="追加です", at=hour(2))
    engine.advance(case_id, "escalate", actor=NIIGATA, note="J-LISへ", at=hour(3))
    heading = "【追加質問（2026-04-01T12:00+09:00）】"
    bodies = [json.loads(r.context)["form"]["body"] for r in engine.outbox()[2:]]
    assert len(bodies) == 2
    assert all(heading in body for body in bodies), bodies


def test_only_the_asker_closes_and_only_once_answered(inquiries: Engine) -> None:
    """inquiry.yaml close: by the opener, from answered only; a receiver is NotAllowed,
    an unanswered inquiry is StepNotOpen, and a closed inquiry takes no more actions
    (closing tells nobody: notify none)."""
    engine = inquiries
    case_id = ask(engine)
    before = footprint(engine, case_id)
    with pytest.raises(StepNotOpen, match="asking"):
        engine.advance(case_id, "close", actor=SANJO, at=hour(1))
    with pytest.raises(NotAllowed, match="三条市"):
        engine.advance(case_id, "close", actor=NIIGATA, at=hour(1))
    with pytest.raises(StepNotOpen):
        engine.advance(case_id, "follow_up", actor=SANJO, note="まだ?", at=hour(1))
    assert footprint(engine, case_id) == before

    engine.advance(case_id, "answer", actor=NIIGATA, note="回答", at=hour(1))
    with pytest.raises(NotAllowed, match="opener"):
        engine.advance(case_id, "close", actor=NIIGATA, at=hour(2))
    closing = queued_by(engine, lambda: engine.advance(case_id, "close", actor=SANJO, at=hour(2)))
    assert closing.rows == []
    view = engine.case(case_id, viewer=SANJO)
    assert (view.state, view.closed_at, view.actions) == ("closed", hour(2), [])
    assert view.deadlines == []
    for action in ("close", "follow_up"):
        with pytest.raises(StepNotOpen, match="closed"):
            engine.advance(case_id, action, actor=SANJO, note="x", at=hour(3))
    assert engine.replay(case_id, viewer=SYSTEM) == "closed"


REQUEST_FLOW = """
name: request
title: 依頼（サンプル）
kinds: [request]
default_kind: request
selected_by: request
visibility: participants
ladders:
  short: [{after: 0m, action: remind}]
default_ladder: short
states:
  - {id: waiting, title: 確認待ち, duty: 確認, deadline: 2h}
actions:
  - {id: close, title: 完了, by: opener, from: [waiting], to: closed}
"""


def test_a_private_state_flow_without_a_chain_is_its_participants_own(db_url: str) -> None:
    """The engine, not the inquiry, carries these rules: a private flow of states with
    no chain shows its case to its three participants only, its opener's overdue duty
    reminds the opener, and an outsider is told there is no such case."""
    clock = MovableClock(T0)
    flows = [bundled_flow("incident"), parse_flow(REQUEST_FLOW, path="request.yaml")]
    with Engine(db_url, clock=clock, flows=flows) as engine:
        engine.init()
        case_id = engine.open_case(reporter=SANJO, title="サンプル依頼", kinds=["request"]).case_id
        assert engine.case(case_id, viewer=SANJO).state == "waiting"
        assert [c.id for c in engine.cases(viewer=NIIGATA)] == [case_id]  # its coordinator
        assert engine.cases(viewer="pref-osaka") == []
        with pytest.raises(NotFound) as hidden:
            engine.advance(case_id, "close", actor="pref-osaka")
        assert str(hidden.value) == not_found_message(engine, case_id)
        clock.advance(timedelta(hours=3))
        fired = engine.sweep()
        assert [(f.step, f.action, f.told) for f in fired] == [("waiting", "remind", (SANJO,))]
        assert engine.advance(case_id, "close", actor=SANJO).state == "closed"


def test_flags_cannot_be_declared_on_an_inquiry(inquiries: Engine) -> None:
    """A flow of states declares no flags: naming one is refused, not ignored."""
    case_id = ask(inquiries)
    with pytest.raises(InvalidInput, match="declares no flags"):
        inquiries.advance(case_id, "escalate", actor=NIIGATA, declare=["beyond_own_capacity"])
    assert chain_of(inquiries, case_id) == [SANJO, NIIGATA]
