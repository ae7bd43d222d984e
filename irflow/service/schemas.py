"""The shapes the API takes and gives, for validation and for ``/openapi.json``.

Request bodies forbid fields they do not name: no field can name an actor, so a
request acts as its token's organisation and as nothing else. Answers are the
command line's ``--json`` (``irflow.engine.views``); the models here describe them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

API = "/api/v1"
"""Where the API's routes live; a new version of it would live beside."""
NOTE = 20_000
"""The longest note or body a request may carry, in characters."""


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseOpen(Body):
    title: str = Field(min_length=1, max_length=500, description="A short summary of the event.")
    kinds: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="The case's kinds (system_failure, security_incident, "
        "personal_info_leak, mislink); none: the default flow.",
    )
    coordinator: str | None = Field(
        default=None,
        max_length=200,
        description="A national agency's competent ministry or an aggregation agency; "
        "default: the reporter's own coordinator.",
    )


class StepDone(Body):
    note: str | None = Field(default=None, max_length=NOTE, description="Kept on the timeline.")
    declare: list[str] = Field(
        default_factory=list, max_length=20, description="Flags of the flow declared with it."
    )


class Note(Body):
    note: str | None = Field(default=None, max_length=NOTE, description="Kept on the timeline.")


class CoordinatorChange(Body):
    coordinator: str = Field(
        min_length=1, max_length=200, description="A competent ministry or aggregation agency."
    )
    note: str | None = Field(default=None, max_length=NOTE)


class InquiryAsk(Body):
    title: str = Field(min_length=1, max_length=500, description="The inquiry's subject (件名).")
    body: str = Field(min_length=1, max_length=NOTE, description="The question (問合せ内容).")
    faq_checked: bool = Field(
        description="The FAQ (02.FAQ・問合せ > 01.FAQ) was read and holds no similar "
        "inquiry; without it nothing is asked."
    )


class InquiryAct(Body):
    body: str | None = Field(
        default=None, max_length=NOTE, description="The text an answer or follow-up carries."
    )
    note: str | None = Field(default=None, max_length=NOTE, description="A note, as --note.")


# ---------------------------------------------------------------- answers


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class OrgRef(Answer):
    id: str
    name: str


class StepOut(Answer):
    id: str
    tier: str
    title: str
    phase: str
    status: str = Field(description="waiting, open or done")
    required: bool
    done_by: str | None
    done_at: str | None


class DeadlineOut(Answer):
    step: str
    rung: int
    action: str
    opened_at: str
    deadline_at: str
    due_at: str
    fired_at: str | None


class EventOut(Answer):
    seq: int
    at: str
    actor: str | None
    action: str
    step: str | None
    from_state: str | None
    to_state: str | None
    note: str | None
    payload: dict[str, Any]
    hash: str
    prev_hash: str


class CaseOut(Answer):
    id: int
    flow: str
    flow_version: int
    title: str
    state: str
    version: int
    kinds: list[str]
    flags: list[str]
    reporter: OrgRef
    coordinator: OrgRef
    operator: OrgRef
    opened_at: str
    closed_at: str | None
    steps: list[StepOut]
    timeline: list[EventOut]
    deadlines: list[DeadlineOut]
    overdue: bool


class InquiryOut(CaseOut):
    chain: list[OrgRef]
    holder: OrgRef | None
    actions: list[str]
    form: dict[str, Any] = Field(description="The 問合せ票's fields.")


class CaseSummaryOut(Answer):
    id: int
    flow: str
    state: str
    version: int
    title: str
    reporter: OrgRef
    coordinator: OrgRef
    overdue: bool


class InquirySummaryOut(CaseSummaryOut):
    holder: OrgRef
    your_turn: bool


class CasePage(Answer):
    items: list[CaseSummaryOut]
    next: str | None = Field(description="The next page's URL; null on the last page.")


class InquiryPage(Answer):
    items: list[InquirySummaryOut]
    next: str | None = Field(description="The next page's URL; null on the last page.")


class CoordinatorOut(Answer):
    case: int
    version: int
    coordinator: OrgRef


class ContactStepOut(Answer):
    action: str
    target: str | None
    number: str | None
    category: str | None
    form: str | None
    named: list[str] | None
    note: str | None


class PlanOut(Answer):
    at: str
    window: str
    operator_line_open: bool
    working_day: bool
    steps: list[ContactStepOut]


class ContactOut(Answer):
    step: str
    to: OrgRef
    plan: PlanOut


class PostOut(Answer):
    id: str
    case: int | None
    category: str
    poster: str | None
    named: list[str]
    title: str
    posted_at: str
    attachment_name: str | None
    attachment: str | None


class PostFull(PostOut):
    body: str


class OrgOut(Answer):
    id: str
    name: str
    tier: str
    code: str | None
    prefecture: str | None


class Health(Answer):
    status: str
    database: str


class Problem(BaseModel):
    """An error, as RFC 9457 shapes it; ``detail`` is the command line's message."""

    type: str
    title: str
    status: int
    detail: str


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route, for the OpenAPI document."""
    said = {
        401: "No token, or one that is unknown, revoked, expired or of a disabled account.",
        403: "The caller's organisation may not do this (its tier, a read-only token).",
        404: "No such case for the caller: never opened, or the caller takes no part in it.",
        409: "The case as it stands refuses the request.",
        412: "If-Match does not match the case's ETag (its version).",
        413: "The request body is larger than the service accepts.",
        422: "The request is malformed or names what the flow does not have.",
        429: "Too many failed authentications from this address; see Retry-After.",
        503: "The database is unreachable; see Retry-After.",
    }
    return {
        s: {"model": Problem, "description": said[s], "content": {"application/problem+json": {}}}
        for s in statuses
    }
