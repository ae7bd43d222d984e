"""Stored contexts read back from JSON: moments aware, a broken field named."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from irflow.clock import JST
from irflow.engine.forms import (
    InquiryMailContext,
    inquiry_form_from_json,
    inquiry_mail_from_json,
    render_inquiry_form,
)
from irflow.errors import InvalidInput
from tests.conftest import inquiry_notice


def test_inquiry_notice_is_read_back_from_its_stored_json() -> None:
    """The stored JSON of a notice becomes its context, the form's moments aware and in order."""
    ctx = inquiry_mail_from_json(inquiry_notice())
    assert isinstance(ctx, InquiryMailContext)
    assert ctx.at == datetime(2026, 11, 30, 15, 0, tzinfo=JST)
    assert ctx.form.asked_at == datetime(2026, 11, 30, 10, 0, tzinfo=JST)
    assert [(h.receiver, h.escalated_at) for h in ctx.form.hops] == [
        ("新潟県", datetime(2026, 11, 30, 11, 0, tzinfo=JST)),
        ("地方公共団体情報システム機構", None),
    ]
    form = render_inquiry_form(ctx.form, format="md")
    assert (
        "| 1 | 新潟県 | 2026年11月30日 10:00 | エスカレーション（2026年11月30日 11:00） |" in form
    )
    assert "| 2 | 地方公共団体情報システム機構 | 2026年11月30日 11:00 | 回答 |" in form
    assert "> 手順書第3章のとおりです。" in form


def test_unanswered_inquiry_form_from_json_leaves_the_answer_blank() -> None:
    """A form read back before any answer has no answer, and renders the blank for it."""
    data = inquiry_notice()["form"] | {"answer": None, "answered_by": None, "answered_at": None}
    form = inquiry_form_from_json(data | {"hops": []})
    assert (form.answer, form.answered_at, form.hops) == (None, None, ())
    assert "（回答時に記入）" in render_inquiry_form(form, format="md")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"asked_at": "yesterday"}, "asked_at 'yesterday' is not an ISO 8601 moment"),
        ({"asked_at": None}, "asked_at is missing"),
        ({"hops": [{"receiver": "新潟県"}]}, "hop 1: received_at is missing"),
        ({"askr": "三条市"}, "askr"),
    ],
    ids=["bad-moment", "no-moment", "hop-without-moment", "unknown-field"],
)
def test_broken_inquiry_json_names_the_field(change: dict[str, Any], named: str) -> None:
    """A stored inquiry form that cannot be read is refused with the field at fault named."""
    data = inquiry_notice()
    with pytest.raises(InvalidInput, match="inquiry form 7") as caught:
        inquiry_mail_from_json(data | {"form": data["form"] | change})
    assert named in str(caught.value)
