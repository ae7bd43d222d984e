"""Chains of participants: whom each organisation's inquiry reaches first, and the top."""

from __future__ import annotations

import json

import pytest

from irflow.engine.facade import Engine
from irflow.engine.rules import SYSTEM
from irflow.errors import InvalidInput, StepNotOpen
from tests.engine.inquiries import (
    CHIKYOREN,
    ISHIKAWA,
    JLIS,
    KANAZAWA,
    MIC,
    NIIGATA,
    OPERATOR,
    SANJO,
    ask,
    chain_of,
    footprint,
    hour,
)

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
