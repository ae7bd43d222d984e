"""Read models: what a case looks like to a person or a script.

The JSON of a view (``--json``, the API) is its fields in the order declared, each as
JSON shows it: an organisation as its reference (id and name), a moment in ISO 8601,
a nested view as its own JSON. A view adds only what is not a field (``overdue``) or
leaves out what does not apply (a chain flow's links on other flows).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from irflow.engine.directory import Organisation, Tier
from irflow.engine.timeline import Event

if TYPE_CHECKING:
    from collections.abc import Mapping

    from irflow.engine.flow import Flow
    from irflow.engine.routing import ContactPlan
    from irflow.engine.tables import SitePostRow


@dataclass(frozen=True, kw_only=True, slots=True)
class StepView:
    id: str
    tier: Tier
    title: str
    phase: str
    status: str
    """``waiting``, ``open`` or ``done``."""
    required: bool
    done_by: str | None
    done_at: str | None

    def as_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadlineView:
    step: str
    rung: int
    action: str
    opened_at: datetime
    deadline_at: datetime
    due_at: datetime
    fired_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, kw_only=True, slots=True)
class CaseView:
    id: int
    flow: str
    flow_version: int
    title: str
    state: str
    version: int
    kinds: list[str]
    flags: list[str]
    reporter: Organisation
    coordinator: Organisation
    operator: Organisation
    opened_at: datetime
    closed_at: datetime | None
    steps: list[StepView]
    timeline: list[Event]
    deadlines: list[DeadlineView]
    """The escalation rungs of the open steps, fired or not, in the order they fall due."""
    chain: list[Organisation] = field(default_factory=list)
    """A chain flow's links (the opener first); empty for other flows."""
    holder: Organisation | None = None
    """The link that holds a chain flow's case now."""
    actions: list[str] = field(default_factory=list)
    """A state flow's actions possible in the case's state."""

    @property
    def overdue(self) -> bool:
        return any(d.fired_at is not None for d in self.deadlines)

    def as_json(self) -> dict[str, Any]:
        """Every field, then ``overdue``; a chain flow's fields only on a chain flow."""
        shape = _fields_json(self, leave_out=_CHAIN_FIELDS)
        shape["overdue"] = self.overdue
        if self.chain:
            shape.update({name: _as_json(getattr(self, name)) for name in _CHAIN_FIELDS})
        return shape


@dataclass(frozen=True, kw_only=True, slots=True)
class CaseSummary:
    id: int | None
    flow: str
    state: str
    version: int
    title: str
    reporter: Organisation
    coordinator: Organisation
    overdue: bool = False
    holder: Organisation | None = None
    """A chain flow's holder; None for other flows."""

    def as_json(self) -> dict[str, Any]:
        """Every field; ``holder`` only on a chain flow."""
        return _fields_json(self, leave_out=() if self.holder is not None else ("holder",))


@dataclass(frozen=True, kw_only=True, slots=True)
class CaseContact:
    """One contact an open step calls for: whom to reach, and the plan to reach them."""

    step: str
    recipient: Organisation
    plan: ContactPlan

    def as_json(self) -> dict[str, Any]:
        return {"step": self.step, "to": self.recipient.as_ref(), "plan": self.plan.to_json()}


_CHAIN_FIELDS = ("chain", "holder", "actions")


def _fields_json(view: Any, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of a view dataclass in their order, each as JSON shows it."""
    return {
        f.name: _as_json(getattr(view, f.name)) for f in fields(view) if f.name not in leave_out
    }


def _as_json(value: Any) -> Any:
    if isinstance(value, Organisation):
        return value.as_ref()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    as_json = getattr(value, "as_json", None)
    return as_json() if callable(as_json) else value


def post_json(post: SitePostRow, *, body: bool = False) -> dict[str, Any]:
    """A site post as ``irflow post list --json`` (and ``/posts``) shows it; with
    ``body``, as ``post show`` shows one."""
    import json

    shape: dict[str, Any] = {
        "id": post.id,
        "case": post.case_id,
        "category": post.category,
        "poster": post.poster_id,
        "named": json.loads(post.named),
        "title": post.title,
        "posted_at": post.posted_at.isoformat(),
        "attachment_name": post.attachment_name,
        "attachment": post.attachment,
    }
    if body:
        shape["body"] = post.body
    return shape


_NOT_LISTED = ("type", "competent_ministry", "daytime_phone", "emergency_phone", "mail", "note")
"""What a directory search does not list of an organisation (its contacts are shown
where a contact plan calls for them)."""


def org_json(org: Organisation) -> dict[str, Any]:
    """An organisation as ``irflow org search --json`` (and ``/orgs``) lists it: its id,
    name, tier, the organisation above it and its code."""
    return {k: v for k, v in org.as_dict().items() if k not in _NOT_LISTED}


def inquiry_json(view: CaseView, flow: Flow, names: Mapping[str, str]) -> dict[str, Any]:
    """An inquiry as ``irflow inquiry show --json`` (and ``/inquiries/ID``) shows it: the
    case, and the fields of its form (問合せ票) as its timeline leaves them.
    ``names``: organisation names by id."""
    from irflow.engine.chain import form_data

    return {**view.as_json(), "form": form_data(flow, view.id, view.title, view.timeline, names)}


def inquiry_summary_json(summary: CaseSummary, reader: str) -> dict[str, Any]:
    """An inquiry as ``irflow inquiry list --json`` lists it: ``your_turn`` when
    ``reader`` holds it (in every state but closed, the holder acts)."""
    return {**summary.as_json(), "your_turn": your_turn(summary.state, summary.holder, reader)}


def your_turn(state: str, holder: Organisation | None, reader: str) -> bool:
    """Whether ``reader`` must act on an inquiry: in every state of the inquiry flow
    but closed, its holder acts (the asker holds an answered inquiry)."""
    return state != "closed" and holder is not None and holder.id == reader
