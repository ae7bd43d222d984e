"""The commands of flows of phases: complete a step, declare a flag, assign the
coordinator, and show (and record) the contacts an actor's open steps call for."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from irflow.engine import rules, tiers
from irflow.engine.columns import StepsDone, clean_text, split
from irflow.engine.commands.actions import StateCommands
from irflow.engine.commands.base import CommandRoom, Shown
from irflow.engine.commands.checks import (
    assignable_coordinators,
    check_flag_timing,
    check_moment,
    check_open,
    check_version,
    declared_flags,
)
from irflow.engine.context import Context
from irflow.engine.effects import deadlines_for, escalation_changes
from irflow.engine.flow import CLOSED, CaseFacts, Flow, FlowKind
from irflow.engine.ledger import Effects
from irflow.engine.recorder import Advanced, Recorder, rerun_on_race
from irflow.engine.views import CaseContact
from irflow.errors import InvalidInput, NotAllowed, NotFound


class PhaseCommands(CommandRoom):
    """Commands on cases of flows of phases (and ``advance``'s way to state actions)."""

    def __init__(self, ctx: Context, recorder: Recorder, states: StateCommands) -> None:
        super().__init__(ctx, recorder)
        self.states = states
        self._steps_done = StepsDone()

    @rerun_on_race
    def advance(
        self,
        case_id: int,
        step: str,
        *,
        actor: str,
        note: str | None = None,
        at: datetime | None = None,
        expect_version: int | None = None,
        declare: Sequence[str] = (),
        of: FlowKind | None = None,
        view: bool = False,
    ) -> Advanced:
        """Complete ``step`` of a case as ``actor`` (on a flow of states: do the action
        ``step``); declare ``flags`` on the way. With ``of``, a case whose flow is not of
        that kind is refused, and nothing written; with ``view``, the result carries the
        case as ``actor`` sees it afterwards (``Advanced.view``)."""
        ctx = self.ctx
        moment = ctx.now(at)
        clean_text("the note", note)
        org = self.acting(actor)
        with ctx.ledger.connection() as conn:
            case, flow, held = self.load(conn, case_id, org)
            if of is not None and of != flow_kind(flow):
                raise wrong_kind(case_id, flow, of)
            if flow.stateful:
                return self.states.act(
                    conn, case, flow, step, org=org, held=held, note=note, at=moment,
                    expect_version=expect_version, declare=declare, dated=at is not None,
                    view=view,
                )  # fmt: skip
            spec = flow.steps.get(step)
            if spec is None:
                raise NotFound(
                    f"case {case_id} runs flow {flow.name!r}, which has no step {step!r}; "
                    f"its steps are {', '.join(flow.steps)}"
                )
            if spec.tier not in held:
                raise rules.not_your_step(case, org, held, spec, ctx.directory)
            moment = check_moment(case, moment, dated=at is not None)
            flags = declared_flags(case, flow, held, declare)
            check_version(case, expect_version)
            done = self._steps_done.load(case.steps_done)
            facts = CaseFacts(kinds=split(case.kinds), flags=flags, done=done)
            check_open(case, flow, spec, facts, ctx.directory)
            check_flag_timing(case, flow, facts, declare)
            prior = (
                case.state,
                CaseFacts(kinds=facts.kinds, flags=split(case.flags), done=dict(done)),
            )
            done[step] = [org.id, moment.isoformat()]
            state, opened, closed = ctx.completions.complete(flow, step, prior, facts)
            payload: dict[str, Any] = {}
            new_flags = sorted(flags - prior[1].flags)
            if new_flags:
                payload["declared"] = new_flags
            before = case.state
            case.state = state
            case.flags = ",".join(sorted(flags))
            case.steps_done = self._steps_done.dump(case.steps_done, done, step)
            effects = Effects(
                clear_steps=[step, *closed],
                deadlines=deadlines_for(flow, case.id, opened, moment, ctx.calendar),
                outbox=ctx.notices.for_step(
                    flow, case, spec, event_seq=case.last_seq + 1, at=moment, note=note,
                    actor=org.id,
                ),
            )  # fmt: skip
            shown = Shown(ctx, flow, org) if view else None
            event = self.recorder.append(
                conn, case, at=moment, actor=org.id, action="step_completed", step=step,
                from_state=before, note=note, payload=payload, effects=effects, then=shown,
            )  # fmt: skip
        self.log.info("step.completed", case_id=case_id, actor=org.id, step=step, state=case.state)
        return Advanced(
            case_id, case.state, case.version, event, payload, view=shown.view if shown else None
        )

    @rerun_on_race
    def declare(
        self,
        case_id: int,
        flag: str,
        *,
        actor: str,
        note: str | None = None,
        at: datetime | None = None,
        expect_version: int | None = None,
        view: bool = False,
    ) -> Advanced:
        """Declare a flag of the flow on a case, outside any step (``view``: as ``advance``).

        E.g. the reporter finds the event is beyond its own capacity
        (自機関のみで対応可能な事象ではない): the coordinator's investigation becomes
        required, and the steps that now wait for it lose their deadlines.
        """
        ctx = self.ctx
        moment = ctx.now(at)
        clean_text("the note", note)
        org = self.acting(actor)
        with ctx.ledger.connection() as conn:
            case, flow, held = self.load(conn, case_id, org)
            flags = declared_flags(case, flow, held, [flag])
            moment = check_moment(case, moment, dated=at is not None)
            check_version(case, expect_version)
            if case.state == CLOSED:
                raise InvalidInput(f"case {case_id} is closed; nothing can be declared on it")
            if flag in split(case.flags):
                raise InvalidInput(f"flag {flag!r} is declared on case {case_id} already")
            done = json.loads(case.steps_done)
            facts = CaseFacts(kinds=split(case.kinds), flags=flags, done=done)
            check_flag_timing(case, flow, facts, [flag])
            prior = (case.state, CaseFacts(kinds=facts.kinds, flags=split(case.flags), done=done))
            opened, closed = escalation_changes(flow, None, prior, (case.state, facts))
            case.flags = ",".join(sorted(flags))
            effects = Effects(
                clear_steps=closed,
                deadlines=deadlines_for(flow, case.id, opened, moment, ctx.calendar),
            )
            shown = Shown(ctx, flow, org) if view else None
            event = self.recorder.append(
                conn, case, at=moment, actor=org.id, action="flag_declared", note=note,
                payload={"declared": [flag]}, effects=effects, then=shown,
            )  # fmt: skip
        self.log.info("flag.declared", case_id=case_id, actor=org.id, flag=flag)
        return Advanced(
            case_id, case.state, case.version, event, view=shown.view if shown else None
        )

    @rerun_on_race
    def assign_coordinator(
        self,
        case_id: int,
        *,
        coordinator: str,
        actor: str,
        note: str | None = None,
        at: datetime | None = None,
        expect_version: int | None = None,
        view: bool = False,
    ) -> Advanced:
        """Make a competent ministry or aggregation agency the case's coordinator
        (``view``: as ``advance``; None if ``actor`` handed its own role over)."""
        ctx = self.ctx
        moment = ctx.now(at)
        clean_text("the note", note)
        org = self.acting(actor)
        with ctx.ledger.connection() as conn:
            case, flow, held = self.load(conn, case_id, org)
            if case.chain:
                raise InvalidInput(
                    f"case {case_id} follows a chain of reception tiers; its receivers change "
                    "by escalation, not by assignment"
                )
            if not tiers.ASSIGNERS & set(held):
                raise NotAllowed(
                    f"only the operator or the current coordinator of case {case_id} may "
                    f"assign its coordinator; {org.name} is its {'/'.join(held)}"
                )
            moment = check_moment(case, moment, dated=at is not None)
            check_version(case, expect_version)
            new = ctx.directory.find(coordinator)
            if new.type not in tiers.ASSIGNABLE:
                raise InvalidInput(
                    f"{new.name} is a {new.type.value}; a case's coordinator can be assigned "
                    f"to {assignable_coordinators()}"
                )
            if new.id == case.reporter_id:
                raise InvalidInput(
                    f"{new.name} is the reporter of case {case_id} and cannot coordinate its "
                    "own case; name another competent ministry or aggregation agency"
                )
            if case.state == CLOSED:
                raise InvalidInput(f"case {case_id} is closed; its coordinator stays as it was")
            if new.id == case.coordinator_id:
                raise InvalidInput(f"{new.name} is the coordinator of case {case_id} already")
            payload = {"from": case.coordinator_id, "to": new.id}
            case.coordinator_id = new.id
            shown = Shown(ctx, flow, org) if view else None
            event = self.recorder.append(
                conn, case, at=moment, actor=org.id, action="coordinator_assigned", note=note,
                payload=payload, then=shown,
            )  # fmt: skip
        self.log.info("coordinator.assigned", case_id=case_id, actor=org.id, to=new.id)
        return Advanced(
            case_id, case.state, case.version, event, view=shown.view if shown else None
        )

    @rerun_on_race
    def contacts(
        self, case_id: int, *, actor: str, at: datetime | None = None
    ) -> list[CaseContact]:
        """The contact plans the actor's open steps call for; recorded on the timeline.

        Each open step of the actor's tier that reports to someone (``reports_to`` in
        the flow file) gives one plan per recipient. The plans shown are appended to
        the case's timeline as a ``contacts_shown`` event, so the record says what the
        person was told to do and when.
        """
        from irflow.engine.routing import plan_contact  # loaded with the routing rules

        ctx = self.ctx
        moment = ctx.now(at)
        org = self.acting(actor)
        routing, calendar = ctx.routing, ctx.calendar
        with ctx.ledger.connection() as conn:
            case, flow, held = self.load(conn, case_id, org)
            moment = check_moment(case, moment, dated=at is not None)
            facts = CaseFacts(
                kinds=split(case.kinds), flags=split(case.flags), done=json.loads(case.steps_done)
            )
            who = rules.participants(case)
            found: list[CaseContact] = []
            for step in flow.steps.values():
                if step.tier not in held or not step.reports_to:
                    continue
                if not flow.present(step, facts) or flow.status(step, case.state, facts) != "open":
                    continue
                for target in step.reports_to:
                    to_id = target[4:] if target.startswith("org:") else who[target]
                    recipient = ctx.directory.find(to_id)
                    plan = plan_contact(
                        routing, calendar, org, recipient, flow.spec.situation, moment
                    )
                    found.append(CaseContact(step=step.id, recipient=recipient, plan=plan))
            if not found:
                return found
            payload = {"plans": [c.as_json() for c in found]}
            self.recorder.append(
                conn, case, at=moment, actor=org.id, action="contacts_shown", payload=payload
            )
        self.log.info("contacts.shown", case_id=case_id, actor=org.id, plans=len(found))
        return found


def flow_kind(flow: Flow) -> FlowKind:
    return "states" if flow.stateful else "phases"


def wrong_kind(case_id: int, flow: Flow, wanted: FlowKind) -> InvalidInput:
    """The refusal of a command meant for the other kind of flow, naming the one that fits."""
    if wanted == "phases":
        return InvalidInput(
            f"case {case_id} runs flow {flow.name!r} ({flow.title}), a flow of states and "
            f"actions ({', '.join(flow.actions)}), not of steps; do an action with "
            f"`irflow inquiry ACTION {case_id}`"
        )
    return InvalidInput(
        f"case {case_id} runs flow {flow.name!r} ({flow.title}), a flow of phases and steps, "
        f"not of actions; complete a step with `irflow case advance {case_id} STEP`"
    )
