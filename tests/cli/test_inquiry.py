"""`irflow inquiry`: an inquiry up the chain and its answer back down, from the command line."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.runs import Run, no_case_read

JLIS = "地方公共団体情報システム機構"
OPERATOR = "総務省大臣官房企画課個人番号企画室"
QUESTION = "副本登録の再送手順を確認したい。\n対象は住民票関係情報です。"
ANSWER = "手順書第3章のとおり再送してください。"


def asked(irflow: Run, tmp_path: Path) -> dict[str, Any]:
    """三条市 asks, the question read from a UTF-8 file, the FAQ checked; the JSON shown."""
    assert irflow("init").code == 0
    question = tmp_path / "question.txt"
    question.write_text(QUESTION + "\n", "utf-8")
    result = irflow(
        "inquiry", "ask", "--as", "三条市", "--title", "副本登録の手順", "--body-file",
        str(question), "--faq-checked", "--at", "2026-11-30T10:00", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    data = result.json()
    assert isinstance(data, dict)
    return data


def act(irflow: Run, *args: str) -> str:
    """Run an inquiry command that must succeed; its human output."""
    result = irflow("inquiry", *args)
    assert result.code == 0, result.err
    return result.out


def answered_by_the_operator(irflow: Run, tmp_path: Path) -> None:
    """The inquiry goes up to the operator, which answers; the answer comes back to 三条市."""
    asked(irflow, tmp_path)
    act(irflow, "escalate", "1", "--as", "pref-niigata", "--note", "県では判断できないため",
        "--at", "2026-11-30T11:00")  # fmt: skip
    act(irflow, "escalate", "1", "--as", "jlis", "--at", "2026-11-30T13:00")
    act(irflow, "answer", "1", "--as", "mic-mynumber", "--note", ANSWER, "--at",
        "2026-12-01T10:00")  # fmt: skip
    act(irflow, "relay", "1", "--as", "jlis", "--at", "2026-12-01T11:00")
    act(irflow, "relay", "1", "--as", "pref-niigata", "--at", "2026-12-01T12:00")


def test_escalated_to_the_operator_and_answered_back_down(irflow: Run, tmp_path: Path) -> None:
    """An inquiry climbs to the operator and its answer comes back hop by hop to the asker."""
    opened = asked(irflow, tmp_path)
    assert opened["state"] == "asking"
    assert opened["holder"] == {"id": "pref-niigata", "name": "新潟県"}
    assert opened["timeline"][0]["note"] == QUESTION
    assert opened["form"]["body"] == QUESTION
    assert opened["form"]["faq_checked"] is True

    out = act(irflow, "escalate", "1", "--as", "pref-niigata", "--note", "県では判断できないため",
              "--at", "2026-11-30T11:00")  # fmt: skip
    assert out.startswith(f"inquiry 1: escalated; now with {JLIS} (jlis)\n")
    assert "state asking · version 2 · jlis may: answer, escalate" in out

    out = act(irflow, "escalate", "1", "--as", "jlis", "--at", "2026-11-30T13:00")
    assert out.startswith(f"inquiry 1: escalated; now with {OPERATOR} (mic-mynumber)\n")
    assert "mic-mynumber may: answer " in out  # nobody above the operator

    top = irflow("inquiry", "escalate", "1", "--as", "mic-mynumber", "--at", "2026-11-30T14:00")
    assert top.code == 2
    assert "the operator can only answer" in top.err

    out = act(irflow, "answer", "1", "--as", "mic-mynumber", "--note", ANSWER,
              "--at", "2026-12-01T10:00")  # fmt: skip
    assert out.startswith(f"inquiry 1: answered; now with {JLIS} (jlis)\n")
    assert "state relaying · version 4 · jlis may: relay" in out
    out = act(irflow, "relay", "1", "--as", "jlis", "--at", "2026-12-01T11:00")
    assert out.startswith("inquiry 1: answer relayed; now with 新潟県 (pref-niigata)\n")
    relayed = irflow("inquiry", "relay", "1", "--as", "pref-niigata", "--at", "2026-12-01T12:00",
                     "--expect-version", "5", "--json")  # fmt: skip
    assert relayed.code == 0, relayed.err
    data = relayed.json()
    assert isinstance(data, dict)
    assert (data["state"], data["version"]) == ("answered", 6)
    assert data["holder"] == {"id": "sanjo", "name": "三条市"}
    assert [o["id"] for o in data["chain"]] == ["sanjo", "pref-niigata", "jlis", "mic-mynumber"]
    assert data["actions"] == ["follow_up", "close"]
    steps = [(e["step"], e["payload"]["to"]) for e in data["timeline"][1:]]
    assert steps == [
        ("escalate", "jlis"),
        ("escalate", "mic-mynumber"),
        ("answer", "jlis"),
        ("relay", "pref-niigata"),
        ("relay", "sanjo"),
    ]
    assert (data["form"]["answer"], data["form"]["answered_by"]) == (ANSWER, OPERATOR)

    shown = act(irflow, "show", "1", "--as", "sanjo")
    assert "inquiry 1: 副本登録の手順" in shown
    assert "  ▶ 1 asker     三条市 (sanjo)" in shown
    assert "    4 receiver  総務省大臣官房企画課個人番号企画室 (mic-mynumber)" in shown
    assert "irflow inquiry close 1 --as sanjo" in shown
    assert "irflow inquiry follow-up 1 --as sanjo --note TEXT" in shown
    assert f"        {ANSWER}" in shown

    out = act(irflow, "close", "1", "--as", "sanjo", "--at", "2026-12-01T13:00")
    assert out == "inquiry 1: closed; version 7\n"
    assert irflow("verify", "1").code == 0


def test_without_faq_checked_nothing_is_asked(irflow: Run) -> None:
    """Asking without --faq-checked exits 2 naming where the FAQ is, and writes nothing."""
    assert irflow("init").code == 0
    refused = irflow("inquiry", "ask", "--as", "sanjo", "--title", "手順", "--body", "質問")
    assert refused.code == 2
    assert "02.FAQ・問合せ > 01.FAQ" in refused.err
    assert "--faq-checked" in refused.err
    for org in ("sanjo", "pref-niigata"):
        assert irflow("inquiry", "list", "--as", org, "--json").json() == []
    empty = irflow("inquiry", "list", "--as", "sanjo").out
    assert empty == "no inquiries that 三条市 (sanjo) may see\n"


def test_the_question_may_come_from_standard_input(
    irflow: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--body-file -` reads the question from standard input."""
    assert irflow("init").code == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(QUESTION + "\n\n"))
    result = irflow("inquiry", "ask", "--as", "sanjo", "--title", "手順", "--body-file", "-",
                    "--faq-checked", "--json")  # fmt: skip
    assert result.code == 0, result.err
    assert result.json()["timeline"][0]["note"] == QUESTION  # type: ignore[index]


def test_an_outsider_is_told_what_a_missing_id_tells(irflow: Run, tmp_path: Path) -> None:
    """To an organisation outside the chain, an inquiry is not found, worded as a missing one."""
    asked(irflow, tmp_path)
    hidden = irflow("inquiry", "show", "1", "--as", "石川県")
    missing = irflow("inquiry", "show", "99", "--as", "石川県")
    assert (hidden.code, missing.code) == (3, 3)
    assert hidden.err == missing.err.replace("99", "1")
    assert hidden.err == (
        "irflow: error: no inquiry 1 that 石川県 may see; "
        "`irflow inquiry list --as pref-ishikawa` lists the inquiries it may see\n"
    )
    assert hidden.out == ""
    answering = irflow("inquiry", "answer", "1", "--as", "石川県", "--note", "回答")
    assert (answering.code, answering.err) == (3, hidden.err)


def test_a_chain_member_not_holding_it_may_not_answer(irflow: Run, tmp_path: Path) -> None:
    """新潟県, once it escalated the inquiry to J-LIS, may no longer answer it: exit 4."""
    asked(irflow, tmp_path)
    act(irflow, "escalate", "1", "--as", "pref-niigata", "--at", "2026-11-30T11:00")
    refused = irflow("inquiry", "answer", "1", "--as", "新潟県", "--note", "回答")
    assert refused.code == 4
    assert f"done by its holder, {JLIS}" in refused.err
    version = irflow("inquiry", "show", "1", "--as", "jlis", "--json").json()["version"]  # type: ignore[index]
    assert version == 2


def test_list_per_organisation(irflow: Run, tmp_path: Path) -> None:
    """Each organisation lists the inquiries it asked or was reached by; ▶ marks its turn."""
    asked(irflow, tmp_path)
    act(irflow, "escalate", "1", "--as", "pref-niigata", "--at", "2026-11-30T11:00")

    def listed(org: str) -> list[tuple[int, str, bool]]:
        rows = irflow("inquiry", "list", "--as", org, "--json").json()
        assert isinstance(rows, list)
        return [(r["id"], r["holder"]["id"], r["your_turn"]) for r in rows]

    assert listed("sanjo") == [(1, "jlis", False)]
    assert listed("pref-niigata") == [(1, "jlis", False)]
    assert listed("jlis") == [(1, "jlis", True)]
    assert listed("mic-mynumber") == []  # not reached yet
    assert listed("pref-ishikawa") == []
    assert irflow("inquiry", "list", "--as", "jlis", "--state", "answered", "--json").json() == []

    table = act(irflow, "list", "--as", "jlis")
    assert "▶" in table
    assert JLIS in table
    assert "副本登録の手順" in table
    assert "▶" not in act(irflow, "list", "--as", "sanjo")

    bad = irflow("inquiry", "list", "--as", "jlis", "--state", "open")
    assert bad.code == 2
    assert "asking, relaying, answered, closed" in bad.err


def test_form_md_shows_each_receiver_and_the_answer(irflow: Run, tmp_path: Path) -> None:
    """`show --form md` prints the 問合せ票 with every receiver in order and the answer."""
    answered_by_the_operator(irflow, tmp_path)
    form = act(irflow, "show", "1", "--as", "sanjo", "--form", "md")
    assert form.startswith("# 問合せ票")
    for n, receiver in enumerate(("新潟県", JLIS, OPERATOR), 1):
        assert f"| {n} | {receiver} |" in form
    assert f"> {ANSWER}" in form
    assert "> 対象は住民票関係情報です。" in form
    html = act(irflow, "show", "1", "--as", "jlis", "--form", "html")
    assert html.startswith("<!DOCTYPE html>")
    assert ANSWER in html


def test_help_teaches_the_chain(irflow: Run) -> None:
    """`irflow inquiry --help` explains the chain and shows a session."""
    result = irflow("inquiry", "--help")
    assert result.code == 0
    for words in ("chain", "prefecture", "J-LIS", "operator", "escalate", "relay", "FAQ",
                  "irflow inquiry ask --as sanjo"):  # fmt: skip
        assert words in result.out
    assert "inquiry" in irflow("--help").out


def test_case_advance_on_an_inquiry_is_refused_and_writes_nothing(
    irflow: Run, tmp_path: Path
) -> None:
    """`irflow case advance` on an inquiry names the command that fits, exit 2, and the
    inquiry's version, timeline and outbox stay as they were."""
    asked(irflow, tmp_path)
    before = irflow("inquiry", "show", "1", "--as", "pref-niigata", "--json").json()
    queued = irflow("outbox", "list", "--json").out
    result = irflow("case", "advance", "1", "answer", "--as", "pref-niigata", "--note", ANSWER)
    assert result.code == 2
    assert "irflow inquiry ACTION 1" in result.err
    after = irflow("inquiry", "show", "1", "--as", "pref-niigata", "--json").json()
    assert after["version"] == before["version"]
    assert after["state"] == before["state"] == "asking"
    assert after["timeline"] == before["timeline"]
    assert irflow("outbox", "list", "--json").out == queued


def test_case_advance_on_an_inquiry_by_an_outsider_is_not_found_as_a_missing_case(
    irflow: Run, tmp_path: Path
) -> None:
    """An organisation outside the inquiry's chain learns nothing: the same exit and words
    as for a case number never used."""
    asked(irflow, tmp_path)
    hidden = irflow("case", "advance", "1", "answer", "--as", "pref-yamaguchi")
    missing = irflow("case", "advance", "99", "answer", "--as", "pref-yamaguchi")
    assert hidden.code == missing.code == 3
    assert hidden.err.replace("99", "1") == missing.err.replace("99", "1")


def test_an_inquiry_action_on_an_incident_names_case_advance_and_writes_nothing(
    irflow: Run,
) -> None:
    """`irflow inquiry answer` on an incident its actor takes part in names the command
    that fits, exit 2, and the incident stays as it was; to an outsider it is no inquiry."""
    assert irflow("init").code == 0
    opened = irflow("case", "open", "--reporter", "三条市", "--title", "サンプル障害", "--json")
    assert opened.code == 0
    before = irflow("case", "show", "1", "--json").out
    result = irflow("inquiry", "answer", "1", "--as", "pref-niigata", "--note", ANSWER)
    assert result.code == 2
    assert "irflow case advance 1 STEP" in result.err
    assert irflow("case", "show", "1", "--json").out == before
    outsider = irflow("inquiry", "answer", "1", "--as", "pref-yamaguchi", "--note", ANSWER)
    missing = irflow("inquiry", "answer", "9", "--as", "pref-yamaguchi", "--note", ANSWER)
    assert outsider.code == missing.code == 3
    assert outsider.err == missing.err.replace("9", "1")


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_each_inquiry_command_prints_without_reading_the_inquiry_again(
    irflow: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    """ask and an action print from their command's own result (``Engine.case`` is never
    called); the JSON is what ``inquiry show --json`` prints."""
    assert irflow("init").code == 0
    shape = ["--json"] if as_json else []
    with no_case_read(monkeypatch):
        ask = irflow("inquiry", "ask", "--as", "三条市", "--title", "副本登録の手順", "--body",
                     QUESTION, "--faq-checked", "--at", "2026-11-30T10:00", *shape)  # fmt: skip
        up = irflow("inquiry", "escalate", "1", "--as", "pref-niigata", "--at",
                    "2026-11-30T11:00", *shape)  # fmt: skip
    assert (ask.code, up.code) == (0, 0), ask.err + up.err
    if as_json:
        assert up.out == irflow("inquiry", "show", "1", "--as", "pref-niigata", "--json").out
    else:
        assert ask.out.startswith("inquiry 1: ")
        assert "now with 地方公共団体情報システム機構 (jlis)" in up.out
