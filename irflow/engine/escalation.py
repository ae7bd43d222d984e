"""The sweep: fire every escalation rung that has fallen due, each exactly once.

The database is the truth. A sweep claims the earliest unfired rung due by now
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so sweepers work side by side; the
write lock on SQLite, so one sweeps at a time) and fires it as a normal command
in the same transaction: the case row under its version check, an ``escalated``
event on the timeline (actor: the engine itself), the rung marked fired, and the
notifications in the outbox. A crash before the commit fires nothing; the next
sweep fires it. Rungs fire in the order they fell due.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from irflow.engine import chain as chain_rules
from irflow.engine.context import Context
from irflow.engine.ledger import Effects
from irflow.engine.recorder import Recorder
from irflow.engine.rules import participants
from irflow.engine.tiers import SUPERVISOR
from irflow.errors import Conflict


@dataclass(frozen=True, kw_only=True, slots=True)
class Fired:
    """One rung fired by a sweep."""

    case_id: int
    step: str
    rung: int
    action: str
    due_at: datetime
    told: tuple[str, ...]
    seq: int

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case_id,
            "step": self.step,
            "rung": self.rung,
            "action": self.action,
            "due_at": self.due_at.isoformat(),
            "told": list(self.told),
            "seq": self.seq,
        }


def sweep(
    ctx: Context,
    recorder: Recorder,
    now: datetime,
    *,
    limit: int | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> list[Fired]:
    """Fire every rung due by ``now``, earliest first, one transaction each; when
    ``stopping()`` turns true (a daemon told to stop), the rest wait for the next sweep."""
    fired: list[Fired] = []
    ledger = ctx.ledger
    failing = 0  # rungs at the head of the queue whose firing failed in this sweep
    while (limit is None or len(fired) < limit) and not stopping():
        with ledger.connection() as conn:
            ledger.begin_sweep(conn)
            due = ledger.claim_due(conn, now, skip=failing)
            if due is None:
                conn.rollback()
                break
            try:
                result = _fire(ctx, recorder, conn, due, now)
            except Exception as exc:
                # One rung that cannot fire (bad data, a bug) must not hold back every
                # rung behind it: it stays unfired, is logged, and is tried next sweep.
                conn.rollback()
                failing += 1
                ctx.log.error(
                    "rung.failed",
                    case_id=due.case_id,
                    step=due.step,
                    rung=due.rung,
                    error=f"{type(exc).__name__}: {exc}",
                )
                continue
        if result is not None:
            fired.append(result)
    return fired


def _fire(ctx: Context, recorder: Recorder, conn: Any, due: Any, now: datetime) -> Fired | None:
    case = ctx.ledger.load(conn, due.case_id)
    assert case is not None, "a deadline row always belongs to a case (foreign key)"
    # Another process's clock may be a little ahead: a timeline never goes back in time.
    if case.last_at is not None and case.last_at > now:
        now = case.last_at
    flow = ctx.registry.version(case.flow, case.flow_version)
    chain: list[str] = []
    if due.step in flow.duties:
        # A state flow's duty: its owner is the chain's holder, escalated to the
        # holder's own reception tier.
        duty = flow.duties[due.step]
        chain, orgs = chain_rules.links(case.chain), ctx.directory.organisations()
        title, tier, ladder = duty.title, "holder", duty.ladder
        if chain:
            owner = chain[case.chain_at]
            supervisor = chain_rules.supervisor(flow, chain, case.chain_at, orgs)
        else:  # a state flow without a chain: its opener acts, and nobody is above it
            owner = supervisor = case.reporter_id
    else:
        step = flow.steps[due.step]
        who = participants(case)
        title, tier, ladder = step.title, step.tier, step.ladder
        owner, supervisor = who[step.tier], who[SUPERVISOR[step.tier]]
    told: list[str] = []
    plan_text = ""
    plan_json: dict[str, Any] | None = None
    reached = None
    if due.action == "remind":
        told = [owner]
    elif due.action == "notify":
        told = [supervisor]
        if case.chain and supervisor not in chain:
            # Telling the holder's reception tier brings the case to it: it joins the
            # chain (and may see the case), as if the holder had escalated to it.
            reached = supervisor
            case.chain = ",".join([*chain, supervisor])
        if supervisor != owner:
            from irflow.engine.routing import plan_contact, render_checklist  # with the rules

            rules, calendar = ctx.routing, ctx.calendar
            by_id = ctx.directory.by_id
            plan = plan_contact(
                rules, calendar, by_id(supervisor), by_id(owner), flow.spec.situation, now
            )
            plan_text = render_checklist(plan, by_id(owner).name)
            plan_json = plan.to_json()
    payload: dict[str, Any] = {
        "rung": due.rung,
        "action": due.action,
        "deadline": due.deadline_at.isoformat(),
        "due_at": due.due_at.isoformat(),
        "told": told,
    }
    if plan_json is not None:
        payload["contact_plan"] = plan_json
    if reached is not None:
        payload["reached"] = reached
    seq = case.last_seq + 1
    outbox = []
    if told:
        notices = ctx.notices
        outbox = notices.rows(
            case_id=case.id,
            event_seq=seq,
            kind="escalation",
            template="mail_escalation",
            context={
                "case_id": case.id,
                "title": case.title,
                "step_title": title,
                "step_tier": tier,
                "owner": notices.name(owner),
                "recipient": notices.names(told),
                "open_since": due.opened_at,
                "deadline": due.deadline_at,
                "rung": due.rung,
                "rung_count": len(ladder),
                "rung_action": due.action,
                "fired_at": now,
                "contact_checklist": plan_text,
            },
            recipients=told,
            sender_id=None,
            # Posted in the flow's report category (06: 相対の連絡) naming whom it tells,
            # so that an installation without mail still sees it on the site.
            category=notices.categories.get(flow.spec.report_category or ""),
            at=now,
        )
    try:
        event = recorder.append(
            conn, case, at=now, actor=None, action="escalated", step=due.step, payload=payload,
            effects=Effects(outbox=outbox, fired=(due.step, due.rung)),
        )  # fmt: skip
    except Conflict:
        return None  # the case moved on meanwhile; the next sweep looks again
    ctx.log.info("rung.fired", case_id=case.id, step=due.step, rung=due.rung, action=due.action)
    return Fired(
        case_id=case.id,
        step=due.step,
        rung=due.rung,
        action=due.action,
        due_at=due.due_at,
        told=tuple(told),
        seq=event.seq,
    )
