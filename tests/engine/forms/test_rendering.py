"""Forms and mails rendered: the report form, the inquiry form, the mails."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from irflow.engine.forms import (
    AnnouncementMailContext,
    EscalationMailContext,
    Format,
    InquiryFormContext,
    InquiryHop,
    ReportMailContext,
    inquiry_mail_from_json,
    render_incident_report,
    render_inquiry_form,
    render_mail,
)
from irflow.errors import InvalidInput
from tests.conftest import inquiry_notice
from tests.engine.forms.samples import at, report

BLANK_COMPLETION = "（完了報告時に記入）"


def inquiry() -> InquiryFormContext:
    return InquiryFormContext(
        inquiry_id=3,
        title="副本登録の手順について",
        asker="サンプル市",
        asked_at=at(0),
        body="副本登録の手順を確認したい。",
        faq_checked=True,
        hops=(
            InquiryHop(receiver="サンプル県", received_at=at(10), escalated_at=at(60)),
            InquiryHop(receiver="サンプル機構", received_at=at(61), escalated_at=at(90)),
            InquiryHop(receiver="サンプル運営主体", received_at=at(91)),
        ),
        answer="手順書のとおりです。",
        answered_by="サンプル運営主体",
        answered_at=at(300),
    )


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_occurrence_part_shows_occurrence_fields_and_blank_completion(fmt: Format) -> None:
    """The occurrence part carries every occurrence field and leaves the recovery time blank."""
    text = render_incident_report(report(part="occurrence"), format=fmt)
    for expected in (
        "事象発生報告書兼完了報告書",
        "サンプル市",
        "2026年12月1日 09:10",  # 発生日時
        "2026年12月1日 09:15",  # 検知日時
        "情報照会がタイムアウトする。",
        "サンプル市の情報照会業務",
        "回線事業者に確認中",
        "it@example.invalid",
        "サンプル県",
        "サンプル運営主体",
        "システム障害",
        "異常発生を検知",
        "電話で一報済み",
        BLANK_COMPLETION,
    ):
        assert expected in text
    assert "11:40" not in text  # the recovery time given in the context is not shown yet


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_completion_part_shows_recovery_time(fmt: Format) -> None:
    """The completion part shows the time of recovery in Japan time and no blank marker."""
    ctx = report(part="completion", recovered_at=datetime(2026, 12, 1, 2, 40, tzinfo=UTC))
    text = render_incident_report(ctx, format=fmt)
    assert "2026年12月1日 11:40" in text
    assert BLANK_COMPLETION not in text


def test_completion_part_without_recovery_time_is_refused() -> None:
    """A completion report without the time of recovery is refused before rendering."""
    with pytest.raises(InvalidInput, match="recovered_at"):
        render_incident_report(report(part="completion", recovered_at=None), format="md")


def test_report_mail_has_a_japanese_subject() -> None:
    """A report mail's subject is Japanese, on one line, and names the part and the case."""
    mail = render_mail(
        "mail_report",
        ReportMailContext(
            case_id=7,
            title="サンプル市\n中間サーバー接続障害",
            kinds=("system_failure",),
            sender="サンプル市",
            recipient="サンプル県",
            step_title="状況確認、報告",
            part="occurrence",
            reported_at=at(20),
            summary="情報照会がタイムアウトする。",
            url="https://site.example.invalid/posts/1",
        ),
    )
    assert mail.subject == "【発生報告】サンプル市 中間サーバー接続障害（案件7・サンプル市）"
    assert "サンプル県 ご担当者様" in mail.body
    assert "2026年12月1日 09:30" in mail.body
    assert not mail.body.startswith("Subject:")


def test_escalation_mail_names_step_rung_and_checklist() -> None:
    """An escalation mail says which step, since when, which rung, and how to phone the owner."""
    checklist = "サンプル市への連絡手順\n1. サンプル市に電話する（000-0000-0000）"
    mail = render_mail(
        "mail_escalation.txt.j2",
        EscalationMailContext(
            case_id=7,
            title="サンプル市 中間サーバー接続障害",
            step_title="状況確認、報告",
            step_tier="reporter",
            owner="サンプル市",
            recipient="サンプル県",
            open_since=at(0),
            deadline=at(30),
            rung=2,
            rung_count=3,
            rung_action="notify",
            fired_at=at(60),
            contact_checklist=checklist,
        ),
    )
    assert mail.subject.startswith("【期限超過・第2段】状況確認、報告")
    assert "2026年12月1日 09:10" in mail.body
    assert "2026年12月1日 09:40" in mail.body
    assert "第2段" in mail.body
    assert checklist in mail.body


def test_announcement_mail_is_an_important_notice() -> None:
    """The announcement mail is titled as an important notice about information linkage."""
    mail = render_mail(
        "mail_announcement",
        AnnouncementMailContext(
            title="サンプル市における情報連携の復旧",
            body="情報連携は復旧しました。",
            sender="サンプル運営主体",
            recipient="サンプル町",
            announced_at=at(400),
        ),
    )
    assert mail.subject.startswith("【重要周知事項】情報連携に係る状況の周知")
    assert "情報連携は復旧しました。" in mail.body


def test_mail_with_the_wrong_context_is_refused() -> None:
    """A mail template given another template's context is refused with both names."""
    ctx = AnnouncementMailContext(
        title="サンプル",
        body="",
        sender="サンプル運営主体",
        recipient="サンプル町",
        announced_at=at(0),
    )
    with pytest.raises(InvalidInput, match="ReportMailContext"):
        render_mail("mail_report", ctx)


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_inquiry_form_lists_hops_in_order(fmt: Format) -> None:
    """The inquiry form lists the receivers in the order reached, then the answer and its author."""
    text = render_inquiry_form(inquiry(), format=fmt)
    positions = [text.index(name) for name in ("サンプル県", "サンプル機構", "サンプル運営主体")]
    assert positions == sorted(positions)
    assert "■ 確認済み" in text
    assert "手順書のとおりです。" in text
    assert text.count("エスカレーション") == 2


@pytest.mark.parametrize(
    ("action", "sender", "recipient", "tag", "sentence"),
    [
        ("ask", "三条市", "新潟県", "【問合せ】", "三条市から問合せが届きました。"),
        (
            "escalate",
            "新潟県",
            "地方公共団体情報システム機構",
            "【問合せ・エスカレーション】",
            "新潟県では回答できないため、問合せが地方公共団体情報システム機構へ"
            "エスカレーションされました。",
        ),
        (
            "answer",
            "地方公共団体情報システム機構",
            "新潟県",
            "【問合せ・回答】",
            "地方公共団体情報システム機構から問合せへの回答が届きました。",
        ),
        (
            "relay",
            "新潟県",
            "三条市",
            "【問合せ・回答】",
            "地方公共団体情報システム機構の回答が新潟県から中継されました。",
        ),
        ("follow_up", "三条市", "新潟県", "【問合せ・追加質問】", "追加の質問が届きました。"),
        ("close", "三条市", "新潟県", "【問合せ・完了】", "三条市が問合せを完了しました。"),
    ],
)
def test_inquiry_notice_says_what_happened_at_the_hop(
    action: str, sender: str, recipient: str, tag: str, sentence: str
) -> None:
    """An inquiry notice says, per hop, what the sender did, and that the 問合せ票 is attached."""
    ctx = inquiry_mail_from_json(inquiry_notice(action, sender=sender, recipient=recipient))
    mail = render_mail("mail_inquiry", ctx)
    assert mail.subject == f"{tag}副本登録の手順について（問合せ7・{sender}）"
    assert f"{recipient} ご担当者様" in mail.body
    assert sentence in mail.body
    assert "問合せ票を添付しています（問合せ票.md）。" in mail.body
    assert "経路: 三条市 → 新潟県 → 地方公共団体情報システム機構" in mail.body
    assert "2026年11月30日 15:00" in mail.body
    shows_answer = action in ("answer", "relay", "close")
    assert ("手順書第3章のとおりです。" in mail.body) is shows_answer
