"""Read models: what a case looks like to a person or a script."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from irflow.engine.directory import Organisation
from irflow.engine.timeline import Event

if TYPE_CHECKING:
    from irflow.engine.routing import ContactPlan


@dataclass(frozen=True, kw_only=True, slots=True)
class StepView:
    id: str
    tier: str
    title: str
    phase: str
    status: str
    """``waiting``, ``open`` or ``done``."""
    required: bool
    done_by: str | None
    done_at: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tier": self.tier,
            "title": self.title,
            "phase": self.phase,
            "status": self.status,
            "required": self.required,
            "done_by": self.done_by,
            "done_at": self.done_at,
        }


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
        return {
            "step": self.step,
            "rung": self.rung,
            "action": self.action,
            "opened_at": self.opened_at.isoformat(),
            "deadline_at": self.deadline_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "fired_at": self.fired_at.isoformat() if self.fired_at else None,
        }


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
        return {
            "id": self.id,
            "flow": self.flow,
            "flow_version": self.flow_version,
            "title": self.title,
            "state": self.state,
            "version": self.version,
            "kinds": self.kinds,
            "flags": self.flags,
            "reporter": self.reporter.as_ref(),
            "coordinator": self.coordinator.as_ref(),
            "operator": self.operator.as_ref(),
            "opened_at": self.opened_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "steps": [s.as_json() for s in self.steps],
            "timeline": [e.as_json() for e in self.timeline],
            "deadlines": [d.as_json() for d in self.deadlines],
            "overdue": self.overdue,
            **(
                {
                    "chain": [o.as_ref() for o in self.chain],
                    "holder": self.holder.as_ref() if self.holder else None,
                    "actions": self.actions,
                }
                if self.chain
                else {}
            ),
        }


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
        shape = {
            "id": self.id,
            "flow": self.flow,
            "state": self.state,
            "version": self.version,
            "title": self.title,
            "reporter": self.reporter.as_ref(),
            "coordinator": self.coordinator.as_ref(),
            "overdue": self.overdue,
        }
        if self.holder is not None:
            shape["holder"] = self.holder.as_ref()
        return shape


@dataclass(frozen=True, kw_only=True, slots=True)
class CaseContact:
    """One contact an open step calls for: whom to reach, and the plan to reach them."""

    step: str
    recipient: Organisation
    plan: ContactPlan

    def as_json(self) -> dict[str, Any]:
        return {"step": self.step, "to": self.recipient.as_ref(), "plan": self.plan.to_json()}
