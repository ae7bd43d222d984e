"""The inquiry chain (問合せ), as the people in it see it, on every backend.

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

import importlib.resources
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from irflow.clock import JST
from irflow.engine import forms
from irflow.engine.facade import Engine
from irflow.engine.flow import bundled_flow, parse_flow
from irflow.engine.rules import SYSTEM
from irflow.engine.tables import OutboxRow
from irflow.errors import InvalidInput, NotAllowed, NotFound, StepNotOpen
from irflow.notifiers.memory import MemoryNotifier
from irflow.testing import MovableClock

SANJO, NIIGATA, JLIS, OPERATOR = "sanjo", "pref-niigata", "jlis", "mic-mynumber"
ISHIKAWA, KANAZAWA = "pref-ishikawa", "kanazawa"
CHIKYOREN, MIC = "chikyoren", "mic"  # a national agency (under 総務省) and a ministry
NAMES = {
    SANJO: "三条市",
    NIIGATA: "新潟県",
    JLIS: "地方公共団体情報システム機構",
    OPERATOR: "総務省大臣官房企画課個人番号企画室",
}
INQUIRIES = "02.FAQ・問合せ > 03.問合せ"
CHANNELS = ["memory", "site"]

#: Wednesday 1 April 2026, 10:00 in Japan: a working day.
T0 = datetime(2026, 4, 1, 10, 0, tzinfo=JST)
QUESTION = "副本登録の手順について、FAQに類似の記載がないため確認したい。"


def box(kind: str, poster: str) -> str:
    """The site category of a post in ``poster``'s 【問合せ】 or 【受付】 box."""
    return f"{INQUIRIES} > {kind}{NAMES[poster]}"


def hour(n: int) -> datetime:
    return T0 + timedelta(hours=n)


def ask(engine: Engine, asker: str = SANJO, *, at: datetime = T0, note: str = QUESTION) -> int:
    return engine.open_case(
        reporter=asker,
        title="副本登録の手順について",
        kinds=["inquiry"],
        note=note,
        confirmed=["faq_checked"],
        at=at,
    ).case_id


def chain_of(engine: Engine, case_id: int, viewer: str = SANJO) -> list[str]:
    return [o.id for o in engine.case(case_id, viewer=viewer).chain]


def assert_replays_and_verifies(engine: Engine, case_id: int) -> None:
    """The timeline replays to the stored state and its hash chain is intact."""
    view = engine.case(case_id, viewer=view_of(engine, case_id))
    assert engine.replay(case_id, viewer=SYSTEM) == view.state
    (report,) = engine.verify(case_id, viewer=SYSTEM)
    assert report.ok, report
    assert report.events == len(view.timeline)


def view_of(engine: Engine, case_id: int) -> str:
    """An organisation that may see ``case_id``: its opener (read off the timeline)."""
    opened = engine.timeline(case_id, viewer=SYSTEM)[0]
    assert opened.actor is not None
    return opened.actor


def footprint(engine: Engine, case_id: int) -> tuple[Any, ...]:
    """What a refused command must leave as it was."""
    view = engine.case(case_id, viewer=view_of(engine, case_id))
    return (
        view.version,
        view.state,
        view.holder.id if view.holder else None,
        [o.id for o in view.chain],
        len(view.timeline),
        len(engine.outbox()),
    )


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


# --------------------------------------------------------------------------- 1. the chain

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


# --------------------------------------------------------------------------- 2. who asks whom


#: Who asks, and the reception tier its inquiry reaches first.
ASKERS = {
    "municipality": (SANJO, NIIGATA),
    "other-municipality": (KANAZAWA, ISHIKAWA),
    "prefecture": (NIIGATA, JLIS),
    "national-agency": (CHIKYOREN, OPERATOR),
    "ministry": (MIC, OPERATOR),
    "jlis": (JLIS, OPERATOR),
}


@pytest.mark.parametrize(("asker", "first"), list(ASKERS.values()), ids=list(ASKERS))
def test_each_asker_reaches_its_own_reception_tier(engine: Engine, asker: str, first: str) -> None:
    """Seed: 市区町村が掲載すると所属する都道府県、都道府県が掲載するとJ-LISの問合せ受付カテゴ
    リ; national organisations (no prefecture or J-LIS above them) reach the operator."""
    case_id = ask(engine, asker)
    assert chain_of(engine, case_id, asker) == [asker, first]
    assert engine.case(case_id, viewer=asker).holder.id == first  # type: ignore[union-attr]
    (row,) = engine.outbox()
    assert json.loads(row.recipients) == [first]


def test_prefecture_inquiry_goes_to_jlis_which_escalates_to_the_operator(engine: Engine) -> None:
    """DOMAIN §4.3-4: a prefecture's own inquiry goes straight to J-LIS; J-LIS answers
    or escalates to the operator, whose answer comes back through J-LIS."""
    case_id = ask(engine, NIIGATA)
    engine.advance(case_id, "escalate", actor=JLIS, note="運営主体へ", at=hour(1))
    assert chain_of(engine, case_id, NIIGATA) == [NIIGATA, JLIS, OPERATOR]
    assert engine.advance(case_id, "answer", actor=OPERATOR, note="回答", at=hour(2)).state == (
        "relaying"
    )
    assert engine.advance(case_id, "relay", actor=JLIS, at=hour(3)).state == "answered"
    assert [json.loads(r.recipients) for r in engine.outbox()] == [
        [JLIS], [OPERATOR], [JLIS], [NIIGATA]
    ]  # fmt: skip


def test_national_agency_inquiry_goes_to_the_operator_who_cannot_escalate(
    engine: Engine,
) -> None:
    """inquiry.yaml chain.reception: a national agency's inquiry reaches the operator;
    the operator can only answer (エスカレーション is StepNotOpen, exit code 2), and
    the answer goes straight back to the asker."""
    case_id = ask(engine, CHIKYOREN)
    assert chain_of(engine, case_id, CHIKYOREN) == [CHIKYOREN, OPERATOR]
    before = footprint(engine, case_id)
    with pytest.raises(StepNotOpen, match="only answer") as refused:
        engine.advance(case_id, "escalate", actor=OPERATOR, note="上へ", at=hour(1))
    assert isinstance(refused.value, InvalidInput)
    assert refused.value.exit_code == 2
    with pytest.raises(InvalidInput, match="carries text"):
        engine.advance(case_id, "answer", actor=OPERATOR, note="  ", at=hour(1))
    assert footprint(engine, case_id) == before
    assert engine.advance(case_id, "answer", actor=OPERATOR, note="回答", at=hour(1)).state == (
        "answered"
    )
    assert engine.case(case_id, viewer=CHIKYOREN).holder.id == CHIKYOREN  # type: ignore[union-attr]


def test_operator_cannot_ask_and_nothing_is_written(engine: Engine) -> None:
    """The operator is the top of the chain: it has nobody to ask (InvalidInput), and
    the refused inquiry leaves no case and no message."""
    with pytest.raises(InvalidInput, match="nobody to ask") as refused:
        ask(engine, OPERATOR)
    assert not isinstance(refused.value, StepNotOpen)
    assert engine.cases(viewer=OPERATOR) == []
    assert engine.outbox() == []
    assert engine.verify(viewer=SYSTEM) == []


# --------------------------------------------------------------------------- 3. follow-up, close


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


# --------------------------------------------------------------------------- 4. FAQ first


def test_inquiry_without_the_faq_check_writes_nothing_and_names_the_faq(engine: Engine) -> None:
    """Seed: 問合せを行う前に「02.FAQ・問合せ」-「01.FAQ」のカテゴリに掲載のFAQを参照し…
    An inquiry not confirmed as FAQ-checked is refused, its message says where the FAQ
    is, and no case, event or message is written."""
    with pytest.raises(InvalidInput) as refused:
        engine.open_case(reporter=SANJO, title="質問", kinds=["inquiry"], note=QUESTION, at=T0)
    assert "02.FAQ・問合せ > 01.FAQ" in str(refused.value)
    assert "nothing was opened" in str(refused.value)
    with pytest.raises(InvalidInput, match="faq_checked"):
        engine.open_case(
            reporter=SANJO, title="質問", kinds=["inquiry"], note=QUESTION, at=T0,
            confirmed=["faq_read"],
        )  # fmt: skip
    assert engine.cases(viewer=SANJO) == []
    assert engine.cases(viewer=NIIGATA) == []
    assert engine.outbox() == []
    assert engine.verify(viewer=SYSTEM) == []
    # With the check, the same inquiry is opened (and is the only case).
    case_id = ask(engine)
    assert [c.id for c in engine.cases(viewer=SANJO)] == [case_id]
    assert len(engine.outbox()) == 1


# --------------------------------------------------------------------------- 5. visibility


def not_found_message(engine: Engine, case_id: int) -> str:
    """The message for a case id that does not exist, worded for ``case_id``."""
    missing = 10_000
    with pytest.raises(NotFound) as nothing:
        engine.case(missing, viewer=SANJO)
    return str(nothing.value).replace(str(missing), str(case_id))


@pytest.mark.parametrize("outsider", [ISHIKAWA, KANAZAWA, OPERATOR, CHIKYOREN, "ppc"])
def test_an_organisation_outside_the_chain_learns_nothing(engine: Engine, outsider: str) -> None:
    """Only the asker and the receivers it reached see an inquiry: to anyone else it
    does not exist, in the very words used for a case id nobody has, whether it reads
    it, acts on it (any action, known or not) or lists the cases."""
    case_id = ask(engine)  # 三条市 -> 新潟県; the operator is not reached
    expected = not_found_message(engine, case_id)
    with pytest.raises(NotFound) as read:
        engine.case(case_id, viewer=outsider)
    assert str(read.value) == expected
    before = footprint(engine, case_id)
    for action in ("answer", "escalate", "relay", "follow_up", "close", "no_such_action"):
        with pytest.raises(NotFound) as acted:
            engine.advance(case_id, action, actor=outsider, note="x", at=hour(1))
        assert str(acted.value) == expected, action
    with pytest.raises(NotFound) as missing:
        engine.advance(10_000, "answer", actor=outsider, note="x", at=hour(1))
    assert str(missing.value) == expected.replace(str(case_id), "10000")
    assert footprint(engine, case_id) == before
    assert engine.cases(viewer=outsider) == []
    assert engine.cases(flow="inquiry", viewer=outsider) == []


def test_receivers_keep_seeing_an_inquiry_after_the_answer_passed(engine: Engine) -> None:
    """The chain is the inquiry's audience for good: the operator and J-LIS, reached
    once, still see it (and list it) after the answer went down to 三条市 and it closed;
    the system sees it too, and an organisation outside the chain never does."""
    case_id = ask(engine)
    expected = not_found_message(engine, case_id)
    assert [c.id for c in engine.cases(flow="inquiry", viewer=JLIS)] == []
    engine.advance(case_id, "escalate", actor=NIIGATA, note="上へ", at=hour(1))
    engine.advance(case_id, "escalate", actor=JLIS, note="上へ", at=hour(2))
    engine.advance(case_id, "answer", actor=OPERATOR, note="回答", at=hour(3))
    engine.advance(case_id, "relay", actor=JLIS, at=hour(4))
    engine.advance(case_id, "relay", actor=NIIGATA, at=hour(5))
    engine.advance(case_id, "close", actor=SANJO, at=hour(6))
    for member in (SANJO, NIIGATA, JLIS, OPERATOR):
        assert engine.case(case_id, viewer=member).state == "closed"
        assert [c.id for c in engine.cases(flow="inquiry", viewer=member)] == [case_id]
    assert engine.case(case_id, viewer=SYSTEM).state == "closed"
    assert [c.id for c in engine.cases(flow="inquiry", viewer=SYSTEM)] == [case_id]
    with pytest.raises(NotFound) as outsider:
        engine.case(case_id, viewer=ISHIKAWA)
    assert str(outsider.value) == expected


def test_incident_cases_are_visible_to_their_participants_only(engine: Engine) -> None:
    """Since the gate an incident is like an inquiry: shown to its participants (the
    operator takes part in every incident) and to the system, to nobody else, and
    listed beside the viewer's inquiries."""
    incident = engine.open_case(reporter=SANJO, title="照会の応答なし", at=T0).case_id
    inquiry = ask(engine, at=hour(1))
    assert engine.case(incident, viewer=SYSTEM).flow == "incident"
    assert engine.case(incident, viewer=OPERATOR).id == incident
    with pytest.raises(NotFound):
        engine.case(incident, viewer=ISHIKAWA)
    assert [c.id for c in engine.cases(viewer=SYSTEM)] == [incident, inquiry]
    assert engine.cases(viewer=ISHIKAWA) == []
    assert [c.id for c in engine.cases(viewer=NIIGATA)] == [incident, inquiry]
    assert [c.id for c in engine.cases(flow="incident", viewer=SANJO)] == [incident]


# --------------------------------------------------------------------------- 6. deadlines


def jst(month: int, day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=JST)


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


# --------------------------------------------------------------------------- 7. flow versions


def changed_inquiry() -> Any:
    text = importlib.resources.files("irflow.flows").joinpath("inquiry.yaml").read_text("utf-8")
    assert text.count("deadline: 2 working days") == 1
    return parse_flow(
        text.replace("deadline: 2 working days", "deadline: 3 working days"), path="inquiry.yaml"
    )


def test_changed_inquiry_flow_is_version_2_and_open_inquiries_finish_under_1(
    engine: Engine, db_url: str, clock: MovableClock
) -> None:
    """An edited inquiry.yaml is a new version; flow_versions() shows v1 (no longer
    current, with its open inquiries) and v2 (current). An inquiry asked before keeps
    v1's 2 working days to its end; one asked after gets v2's 3."""
    old = ask(engine, at=jst(4, 1, 10))
    done = ask(engine, at=jst(4, 1, 10))
    engine.advance(done, "answer", actor=NIIGATA, note="回答", at=jst(4, 1, 11))
    engine.advance(done, "close", actor=SANJO, at=jst(4, 1, 12))

    flows = [bundled_flow("incident"), bundled_flow("mislink"), changed_inquiry()]
    with Engine(db_url, clock=clock, flows=flows) as newer:
        versions = {(v.flow.name, v.version): (v.current, v.open) for v in newer.flow_versions()}
        assert versions == {
            ("incident", 1): (True, 0),
            ("mislink", 1): (True, 0),
            ("inquiry", 1): (False, 1),
            ("inquiry", 2): (True, 0),
        }
        new = ask(newer, at=jst(4, 2, 10))
        assert newer.case(new, viewer=SANJO).flow_version == 2
        assert newer.case(old, viewer=SANJO).flow_version == 1
        assert [d.deadline_at for d in newer.deadlines(new, viewer=SYSTEM)] == [
            jst(4, 7, 10)
        ] * 2  # 3 days

        newer.advance(old, "escalate", actor=NIIGATA, note="J-LISへ", at=jst(4, 2, 10))
        assert [d.deadline_at for d in newer.deadlines(old, viewer=SYSTEM)] == [
            jst(4, 6, 10)
        ] * 2  # 2 days
        versions = {(v.flow.name, v.version): (v.current, v.open) for v in newer.flow_versions()}
        assert versions[("inquiry", 1)] == (False, 1)
        assert versions[("inquiry", 2)] == (True, 1)

        newer.advance(old, "answer", actor=JLIS, note="回答", at=jst(4, 2, 11))
        newer.advance(old, "relay", actor=NIIGATA, at=jst(4, 2, 12))
        newer.advance(old, "close", actor=SANJO, at=jst(4, 2, 13))
        assert newer.replay(old, viewer=SYSTEM) == "closed"
        versions = {(v.flow.name, v.version): (v.current, v.open) for v in newer.flow_versions()}
        assert versions[("inquiry", 1)] == (False, 0)
        assert versions[("inquiry", 2)] == (True, 1)
        assert all(r.ok for r in newer.verify(viewer=SYSTEM))


# --------------------------------------------------------------------------- 8. replay, verify


def test_every_inquiry_timeline_replays_to_its_state_and_verifies(engine: Engine) -> None:
    """The record (section 6 spirit; the engine's hash-chained timeline): after every
    command and every fired rung, each inquiry's timeline replays to its stored state
    and its hash chain verifies, whatever path it took up and down the chain."""
    municipal = ask(engine, SANJO, at=jst(4, 1, 10))
    prefectural = ask(engine, NIIGATA, at=jst(4, 1, 10))
    national = ask(engine, CHIKYOREN, at=jst(4, 1, 10))
    ids = [municipal, prefectural, national]
    script = [
        (municipal, "escalate", NIIGATA, "J-LISへ"),
        (prefectural, "answer", JLIS, "回答"),
        (municipal, "escalate", JLIS, "運営主体へ"),
        (national, "answer", OPERATOR, "回答"),
        (municipal, "answer", OPERATOR, "回答"),
        (prefectural, "follow_up", NIIGATA, "追加"),
        (municipal, "relay", JLIS, None),
        (national, "close", CHIKYOREN, None),
        (municipal, "relay", NIIGATA, None),
        (prefectural, "escalate", JLIS, "運営主体へ"),
        (municipal, "follow_up", SANJO, "追加"),
        (prefectural, "answer", OPERATOR, "回答"),
        (municipal, "answer", NIIGATA, "回答"),
        (prefectural, "relay", JLIS, None),
        (municipal, "close", SANJO, None),
        (prefectural, "close", NIIGATA, None),
    ]
    moment = jst(4, 1, 11)
    for case_id, action, actor, note in script:
        moment += timedelta(days=1)
        engine.sweep(moment)  # rungs fall due between the commands
        engine.advance(case_id, action, actor=actor, note=note, at=moment)
        for each in ids:
            assert_replays_and_verifies(engine, each)
    assert any(e.action == "escalated" for i in ids for e in engine.timeline(i, viewer=SYSTEM))
    assert [engine.replay(i, viewer=SYSTEM) for i in ids] == ["closed"] * 3
    assert all(r.ok for r in engine.verify(viewer=SYSTEM))


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
