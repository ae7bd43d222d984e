"""The data each template is given: one frozen dataclass per kind of template.

Every field of a context is a top-level variable of its templates. The family of a
template is its name up to the first dot (``mail_report.txt.j2`` is of the family
``mail_report``); ``FAMILIES`` says which context each family takes, whether it is a
mail, and in which formats it must exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Literal, TypeAlias, get_args

from irflow.errors import InvalidInput

Format: TypeAlias = Literal["md", "html"]
Part: TypeAlias = Literal["occurrence", "completion"]

FORMATS: tuple[Format, ...] = get_args(Format)
PARTS: tuple[Part, ...] = get_args(Part)


# --------------------------------------------------------------------------- contexts


@dataclass(frozen=True, kw_only=True, slots=True)
class StepRecord:
    """One step done on a case, as the report's timeline shows it."""

    title: str
    tier: str
    """The tier code of the step: reporter, coordinator or operator."""
    done_by: str
    """The name of the organisation that did it."""
    done_at: datetime
    note: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentReportContext:
    """The data of the form 事象発生報告書兼完了報告書 for one case."""

    case_id: int
    title: str
    kinds: Sequence[str]
    """Kind codes of the case (e.g. system_failure); the template words them."""
    reporter: str
    """The organisation where the event happened (市区町村等)."""
    coordinator: str
    """The coordinating prefecture or J-LIS of the case."""
    operator: str
    occurred_at: datetime
    detected_at: datetime
    summary: str
    impact: str
    response_status: str
    """対応状況: what is being done (occurrence part) or what was done (completion part)."""
    contact_person: str
    part: Part = "occurrence"
    recovered_at: datetime | None = None
    """Required for the completion part; never shown on the occurrence part."""
    reporting_agency: str | None = None
    """報告機関: the organisation sending this form; None means the reporter."""
    reported_at: datetime | None = None
    steps: Sequence[StepRecord] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class InquiryHop:
    """One tier an inquiry reached: the receiver's name, added to the form."""

    receiver: str
    received_at: datetime
    escalated_at: datetime | None = None
    """When this receiver passed the inquiry up to the next tier; None if it did not."""
    note: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class InquiryFormContext:
    """The data of the inquiry form 問合せ票 for one inquiry."""

    inquiry_id: int
    title: str
    asker: str
    asked_at: datetime
    body: str
    faq_checked: bool
    asker_contact: str = ""
    hops: Sequence[InquiryHop] = ()
    """Receivers in the order the inquiry reached them."""
    answer: str | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportMailContext:
    """A report (the form, one part) reaching the next tier."""

    case_id: int
    title: str
    kinds: Sequence[str]
    sender: str
    recipient: str
    step_title: str
    """The step whose report this is (e.g. 状況確認、報告)."""
    part: Part
    reported_at: datetime
    summary: str
    url: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class EscalationMailContext:
    """An overdue step: one rung of its escalation ladder fired."""

    case_id: int
    title: str
    step_title: str
    step_tier: str
    owner: str
    """The organisation that owns the overdue step (whom to phone)."""
    recipient: str
    open_since: datetime
    deadline: datetime
    rung: int
    """1-based position of the rung on the ladder."""
    rung_count: int
    rung_action: str
    """The rung's action code (remind, notify, mark_overdue, ...); the template words it."""
    fired_at: datetime
    contact_checklist: str = ""
    """Pre-rendered contact plan for phoning ``owner`` (routing.render_checklist)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AnnouncementMailContext:
    """The operator's announcement (情報連携に係る状況の周知) to every organisation."""

    title: str
    body: str
    sender: str
    recipient: str
    announced_at: datetime
    case_id: int | None = None
    url: str | None = None


INQUIRY_ACTIONS = ("ask", "escalate", "answer", "relay", "follow_up", "close")
"""The hops of an inquiry a notice can tell of (``InquiryMailContext.action``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class InquiryMailContext:
    """One hop of an inquiry (問合せ): asked, escalated, answered, relayed, followed up, closed.

    The mail tells ``recipient`` what ``sender`` did; the inquiry form travels with it
    as an attachment, rendered from ``form``.
    """

    inquiry_id: int
    title: str
    action: str
    """What happened at this hop: ask, escalate, answer, relay, follow_up or close;
    the template words it (an unknown code is shown as ``action_title``)."""
    action_title: str
    """The engine's name of the action (e.g. エスカレーション)."""
    sender: str
    """The organisation that acted."""
    recipient: str
    """The organisation this notice is for."""
    at: datetime
    note: str | None = None
    """What the sender wrote with the action, if anything."""
    form: InquiryFormContext
    """The inquiry form 問合せ票 as it stands after this hop (attached to the notice)."""


MailContext: TypeAlias = (
    ReportMailContext | EscalationMailContext | AnnouncementMailContext | InquiryMailContext
)
Context: TypeAlias = IncidentReportContext | InquiryFormContext | MailContext


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """A mail ready for a notifier: one-line subject and a body ending in a newline."""

    subject: str
    body: str


# --------------------------------------------------------------------------- families


@dataclass(frozen=True, slots=True)
class Family:
    """The templates whose names start alike: the context they take, and their formats."""

    name: str
    context: type
    mail: bool
    formats: tuple[str, ...]

    def template_names(self) -> list[str]:
        return [f"{self.name}.{fmt}.j2" for fmt in self.formats]


FAMILIES: Mapping[str, Family] = {
    family.name: family
    for family in (
        Family("incident_report", IncidentReportContext, False, FORMATS),
        Family("inquiry_form", InquiryFormContext, False, FORMATS),
        Family("mail_report", ReportMailContext, True, ("txt",)),
        Family("mail_escalation", EscalationMailContext, True, ("txt",)),
        Family("mail_announcement", AnnouncementMailContext, True, ("txt",)),
        Family("mail_inquiry", InquiryMailContext, True, ("txt",)),
    )
}
MAILS = ", ".join(name for name, family in FAMILIES.items() if family.mail)


def family_of(name: str) -> Family:
    """The family of the template ``name``; refused if no family has its prefix."""
    family = FAMILIES.get(name.split(".", 1)[0])
    if family is None:
        raise InvalidInput(
            f"template {name!r} has no context: a template's name starts with one of "
            f"{', '.join(FAMILIES)} (partials start with '_')"
        )
    return family


def field_names(context: type) -> list[str]:
    """The fields of a context class, in order: what its templates may use."""
    return [f.name for f in fields(context)]
