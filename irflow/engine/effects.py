"""What a command causes besides its event: deadlines, and notifications in the outbox.

Pure functions from (flow, case facts before and after, directory, routing) to the
rows the command's transaction writes: the rungs of every step the command opened,
the removal of the done step's rungs, and one outbox row per notification and
channel (the site for posts; every configured notifier for messages). Who is told
what follows the seed: a step's report reaches the tiers its ``reports_to`` names,
an ``announce`` step posts an important notice that mails every organisation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from irflow.engine import rules
from irflow.engine.calendar import AdminCalendar
from irflow.engine.directory import Organisation
from irflow.engine.flow import CLOSED, CaseFacts, Duty, Flow, Step
from irflow.engine.ledger import CaseRecord, DeadlineRecord, Effects, OutboxRecord
from irflow.engine.phrases import PhraseBook
from irflow.engine.timeline import COMPACT, OneShotEncoder

SITE = "site"
"""The built-in channel: a post on the information sharing site."""

_WORDING = PhraseBook(
    "notices", {"list": (), "announcement_title": ("case", "step"), "everyone": ()}
)


def open_steps(flow: Flow, state: str, facts: CaseFacts) -> set[str]:
    """The steps the case needs done and that can be done now: those get deadlines.

    An optional step is not escalated; declaring a flag that makes it required opens
    it for escalation then.
    """
    return {
        s.id
        for s in flow.steps.values()
        if flow.is_required(s, facts) and flow.status(s, state, facts) == "open"
    }


def escalation_changes(
    flow: Flow,
    step_id: str | None,
    before: tuple[str, CaseFacts],
    after: tuple[str, CaseFacts],
) -> tuple[list[str], list[str]]:
    """The steps completing ``step_id`` opened for escalation, and those it closed.

    Usually only the steps that wait for it and the steps of a phase the case
    entered can change, and only by opening; asking just those keeps the hot path
    from re-deriving every step's status twice. A declared flag can also close a
    step (one that now waits for a step the flag made required): then every step
    is compared.
    """
    (state_before, facts_before), (state_after, facts_after) = before, after
    if facts_after.flags != facts_before.flags:
        was, now = open_steps(flow, *before), open_steps(flow, *after)
        ordered = list(flow.steps)
        return [s for s in ordered if s in now - was], [s for s in ordered if s in was - now]
    candidates = set(flow.dependents[step_id]) if step_id else set()
    if state_after != state_before:
        low, high = flow.phase_index[state_before], flow.phase_index[state_after]
        for phase in flow.spec.phases[low + 1 : high + 1]:
            candidates.update(s.id for s in phase.steps)

    def due(sid: str, state: str, facts: CaseFacts) -> bool:
        s = flow.steps[sid]
        return flow.is_required(s, facts) and flow.status(s, state, facts) == "open"

    opened = [
        sid
        for sid in flow.steps
        if sid in candidates
        and due(sid, state_after, facts_after)
        and not due(sid, state_before, facts_before)
    ]
    return opened, []


def deadlines_for(
    flow: Flow,
    case_id: int,
    opened: Sequence[str],
    at: datetime,
    calendar: AdminCalendar,
) -> list[DeadlineRecord]:
    """One row per rung of every newly opened step (or, in a state flow, duty of the
    state entered) that has a deadline."""
    rows = []
    for step_id in opened:
        step: Step | Duty = flow.steps[step_id] if step_id in flow.steps else flow.duties[step_id]
        if step.deadline is None:
            continue
        deadline = step.deadline.after(at, calendar)
        for rung in step.ladder:
            rows.append(
                DeadlineRecord(
                    case_id=case_id,
                    step=step_id,
                    rung=rung.number,
                    action=rung.action,
                    opened_at=at,
                    deadline_at=deadline,
                    due_at=rung.after.after(deadline, calendar),
                )
            )
    return rows


class Notices:
    """Builds outbox rows; knows the channels, the directory and the site categories."""

    def __init__(
        self,
        channels: Sequence[str],
        orgs: Mapping[str, Organisation],
        categories: Mapping[str, str],
    ) -> None:
        self.channels = list(channels)
        self.orgs = orgs
        self.categories = categories

    def rows(
        self,
        *,
        case_id: int,
        event_seq: int,
        kind: str,
        template: str,
        context: Mapping[str, Any],
        recipients: Sequence[str],
        sender_id: str | None,
        category: str | None,
        at: datetime,
        number: int = 0,
    ) -> list[OutboxRecord]:
        """One row per channel; the site only for a message with a category."""
        context_json = _CONTEXT.encode(context)
        recipients_json = COMPACT.encode(list(recipients))
        out = []
        for channel in self.channels:
            if channel == SITE and category is None:
                continue
            out.append(
                OutboxRecord(
                    id=f"c{case_id}.e{event_seq}.n{number}.{channel}",
                    case_id=case_id,
                    event_seq=event_seq,
                    channel=channel,
                    kind=kind,
                    template=template,
                    context=context_json,
                    recipients=recipients_json,
                    sender_id=sender_id,
                    category=category,
                    created_at=at,
                )
            )
        return out

    def name(self, org_id: str) -> str:
        org = self.orgs.get(org_id)
        return org.name if org else org_id

    def names(self, org_ids: Sequence[str]) -> str:
        """The organisations' names, as a message lists its recipients."""
        return _WORDING["list"].join([self.name(o) for o in org_ids])

    def for_step(
        self,
        flow: Flow,
        case: CaseRecord,
        step: Step,
        *,
        event_seq: int,
        at: datetime,
        note: str | None,
        actor: str,
    ) -> list[OutboxRecord]:
        """The report and announcement a completed step sends."""
        rows: list[OutboxRecord] = []
        who = rules.participants(case)
        if step.reports_to:
            recipients = [t[4:] if t.startswith("org:") else who[t] for t in step.reports_to]
            category = self.categories.get(flow.spec.report_category or "")
            rows += self.rows(
                case_id=case.id,
                event_seq=event_seq,
                kind="report",
                template="mail_report",
                context={
                    "case_id": case.id,
                    "title": case.title,
                    "kinds": case.kinds.split(","),
                    "sender": self.name(actor),
                    "recipient": self.names(recipients),
                    "step_title": step.title,
                    "part": "completion"
                    if case.state == CLOSED or _last_phase(flow, step)
                    else "occurrence",
                    "reported_at": at.isoformat(),  # as _iso would, without its call
                    "summary": note or case.title,
                },
                recipients=recipients,
                sender_id=actor,
                category=category,
                at=at,
                number=0,
            )
        if step.announce:
            everyone = list(self.orgs)
            rows += self.rows(
                case_id=case.id,
                event_seq=event_seq,
                kind="announcement",
                template="mail_announcement",
                context={
                    "title": _WORDING.fill("announcement_title", case=case.title, step=step.title),
                    "body": note or step.title,
                    "sender": self.name(actor),
                    "recipient": _WORDING["everyone"],
                    "announced_at": at.isoformat(),
                    "case_id": case.id,
                },
                recipients=everyone,
                sender_id=actor,
                category=self.categories.get(step.announce),
                at=at,
                number=1,
            )
        return rows


def _last_phase(flow: Flow, step: Step) -> bool:
    return step.phase_index == len(flow.spec.phases) - 1


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a notification's context")


# Built once: json.dumps with options builds a new encoder on every call.
_CONTEXT = OneShotEncoder(ensure_ascii=False, separators=(",", ":"), default=_iso)


__all__ = [
    "SITE",
    "Effects",
    "Notices",
    "deadlines_for",
    "escalation_changes",
    "open_steps",
]
