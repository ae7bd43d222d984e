"""Forms and mails rendered from templates: the report form, the inquiry form, the mails."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader

from irflow.clock import JST
from irflow.engine.forms import (
    AnnouncementMailContext,
    EscalationMailContext,
    Format,
    IncidentReportContext,
    InquiryFormContext,
    InquiryHop,
    InquiryMailContext,
    ReportMailContext,
    StepRecord,
    check_templates,
    format_jst,
    inquiry_form_from_json,
    inquiry_mail_from_json,
    load_environment,
    render_incident_report,
    render_inquiry_form,
    render_mail,
)
from irflow.errors import InvalidInput, TemplateFieldError
from tests.conftest import inquiry_notice

BLANK_COMPLETION = "（完了報告時に記入）"
T0 = datetime(2026, 12, 1, 9, 10, tzinfo=JST)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def report(**changes: Any) -> IncidentReportContext:
    base = IncidentReportContext(
        case_id=7,
        title="サンプル市 中間サーバー接続障害",
        kinds=("system_failure",),
        reporter="サンプル市",
        coordinator="サンプル県",
        operator="サンプル運営主体",
        occurred_at=at(0),
        detected_at=at(5),
        summary="情報照会がタイムアウトする。",
        impact="サンプル市の情報照会業務",
        response_status="回線事業者に確認中",
        contact_person="サンプル市 情報政策課（it@example.invalid）",
        recovered_at=at(150),
        steps=(
            StepRecord(
                title="異常発生を検知", tier="reporter", done_by="サンプル市", done_at=at(0)
            ),
            StepRecord(
                title="状況確認、報告",
                tier="reporter",
                done_by="サンプル市",
                done_at=at(20),
                note="電話で一報済み",
            ),
        ),
    )
    return replace(base, **changes)


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


def overriding_loader(folder: Path) -> ChoiceLoader:
    """Templates in ``folder`` first, the bundled ones for the rest."""
    return ChoiceLoader([FileSystemLoader(folder), PackageLoader("irflow", "templates")])


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


def test_html_escapes_script_in_a_note() -> None:
    """HTML output escapes markup that arrives in data (autoescape on for .html)."""
    step = StepRecord(
        title="状況確認、報告",
        tier="reporter",
        done_by="サンプル市",
        done_at=at(20),
        note="<script>alert('x')</script>",
    )
    text = render_incident_report(report(steps=(step,)), format="html")
    assert "<script>" not in text
    assert "&lt;script&gt;" in text


def test_markdown_keeps_japanese_unescaped() -> None:
    """Markdown output keeps Japanese text and ampersands as written, without HTML entities."""
    summary = "「情報照会」＆『副本登録』が失敗 & 再送不可"
    text = render_incident_report(report(summary=summary), format="md")
    assert summary in text
    assert "&amp;" not in text
    assert "&#" not in text


@pytest.mark.parametrize(
    ("template", "bad_line", "field"),
    [
        ("incident_report.md.j2", "{{ summmary }}", "summmary"),
        # A branch no sample reaches is still checked: top-level names are checked statically.
        (
            "incident_report.md.j2",
            '{% if part == "never" %}{{ recoverd_at }}{% endif %}',
            "recoverd_at",
        ),
        (
            "incident_report.html.j2",
            "{% for step in steps %}{{ step.notee }}{% endfor %}",
            "notee",
        ),
        ("mail_inquiry.txt.j2", "{{ recipent }}", "recipent"),
        # A nested field is checked by rendering the sample contexts.
        ("mail_inquiry.txt.j2", "{{ form.askr }}", "askr"),
    ],
)
def test_misspelled_field_fails_at_check_time(
    tmp_path: Path, template: str, bad_line: str, field: str
) -> None:
    """A template that refers to a missing field raises when loaded, naming template and field."""
    (tmp_path / template).write_text(f"# 報告書\n{bad_line}\n", encoding="utf-8")
    with pytest.raises(TemplateFieldError) as caught:
        load_environment(overriding_loader(tmp_path))
    assert caught.value.template == template
    assert caught.value.field == field
    assert template in str(caught.value)
    assert field in str(caught.value)


def test_mail_template_without_subject_fails_at_check_time(tmp_path: Path) -> None:
    """A mail template that does not start with its Subject line is rejected when loaded."""
    (tmp_path / "mail_report.txt.j2").write_text("{{ title }} の報告\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"mail_report\.txt\.j2.*Subject"):
        load_environment(overriding_loader(tmp_path))


def test_bundled_templates_pass_the_check() -> None:
    """Every bundled template renders with the complete sample contexts."""
    check_templates()


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


def test_moments_are_written_in_japan_time() -> None:
    """A UTC moment is written as the Japan-time wall clock of the forms."""
    assert format_jst(datetime(2026, 12, 1, 0, 40, tzinfo=UTC)) == "2026年12月1日 09:40"


def test_importing_forms_does_not_import_jinja2() -> None:
    """Importing irflow.engine.forms leaves jinja2 unimported until something is rendered."""
    code = "import sys, irflow.engine.forms; print('jinja2' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_unguarded_optional_field_fails_at_check_time(tmp_path: Path) -> None:
    """A template that prints an optional field without guarding its None fails when loaded."""
    (tmp_path / "inquiry_form.md.j2").write_text("回答: {{ answered_by }}\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"inquiry_form\.md\.j2.*None"):
        load_environment(overriding_loader(tmp_path))


# --------------------------------------------------------------------------- inquiry notices


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
