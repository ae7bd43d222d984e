"""The actions of flows of states (the inquiry's ask, escalate, answer, relay, ...).

Who may act, from which state, how the chain's holder moves, and the state it leads
to all come from the flow file; this room applies them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from irflow.engine import chain as chain_rules
from irflow.engine.columns import split
from irflow.engine.commands.base import CommandRoom, Shown
from irflow.engine.commands.checks import check_moment, check_version
from irflow.engine.context import Context
from irflow.engine.directory import Organisation
from irflow.engine.effects import deadlines_for
from irflow.engine.flow import Action, CaseFacts, CaseModel, Flow
from irflow.engine.ledger import CaseRecord, Effects, OutboxRecord
from irflow.engine.recorder import Advanced, read_events
from irflow.engine.timeline import Event
from irflow.engine.views import CaseView
from irflow.errors import InvalidInput, NotAllowed, NotFound, StepNotOpen


class StateCommands(CommandRoom):
    """Actions on cases of flows of states."""

    def act(
        self,
        conn: Any,
        case: CaseRecord,
        flow: Flow,
        name: str,
        *,
        org: Organisation,
        held: list[str],
        note: str | None,
        at: datetime,
        expect_version: int | None,
        declare: Sequence[str] = (),
        dated: bool = True,
        view: bool = False,
    ) -> Advanced:
        """Do action ``name`` on ``case`` (read in ``conn``'s transaction) as ``org``,
        a participant holding the roles ``held`` (``view``: see ``PhaseCommands.advance``)."""
        ctx = self.ctx
        if declare:
            raise InvalidInput(
                f"flow {flow.name!r} is a flow of states and actions; it declares no flags "
                f"({', '.join(declare)})"
            )
        action = flow.actions.get(name)
        if action is None:
            raise NotFound(
                f"case {case.id} runs flow {flow.name!r}, which has no action {name!r}; "
                f"its actions are {', '.join(flow.actions)}"
            )
        orgs = ctx.directory.organisations()
        chain = chain_rules.links(case.chain)
        holder = chain[case.chain_at] if chain else case.reporter_id
        who = chain[0] if action.by == "opener" and chain else holder
        if org.id != who:
            raise NotAllowed(
                f"{action.title} ({name}) of case {case.id} is done by its {action.by}, "
                f"{ctx.directory.name(who)}; {org.name} is its {'/'.join(held)}"
            )
        at = check_moment(case, at, dated=dated)
        check_version(case, expect_version)
        if case.state not in action.sources:
            raise StepNotOpen(
                f"{action.title} ({name}) is done while case {case.id} is "
                f"{' or '.join(action.sources)}; it is {case.state} "
                f"({flow.state_titles[case.state]})",
                case_id=case.id,
                step=name,
            )
        base = CaseFacts(kinds=split(case.kinds), flags=split(case.flags))
        if action.only_if is not None and not action.only_if(
            chain_rules.facts(flow, base, chain, case.chain_at, orgs)
        ):
            why = action.why_not or f"the flow allows it only if {action.only_if_name}"
            raise StepNotOpen(
                f"{org.name} cannot do {action.title} ({name}) on case {case.id}: {why}",
                case_id=case.id,
                step=name,
            )
        if action.needs_note and not (note and note.strip()):
            raise InvalidInput(
                f"{action.title} ({name}) carries text; give it with --note or --body-file"
            )
        new_chain, new_at = chain_rules.move(flow, action.move, chain, case.chain_at, orgs)
        model = CaseModel(case.state, chain_rules.facts(flow, base, new_chain, new_at, orgs))
        if not flow.machine.events[name].trigger(model):
            raise StepNotOpen(
                f"{action.title} ({name}) leads nowhere from here in flow {flow.name!r}",
                case_id=case.id,
                step=name,
            )
        payload: dict[str, Any] = {"from": holder, "to": new_chain[new_at] if new_chain else None}
        if len(new_chain) > len(chain):
            payload["reached"] = new_chain[-1]
        before = case.state
        case.state, case.chain, case.chain_at = model.state, ",".join(new_chain), new_at
        opened = [case.state] if case.state in flow.duties else []
        effects = Effects(
            clear_steps=[before] if before in flow.duties else [],
            deadlines=deadlines_for(flow, case.id, opened, at, ctx.calendar),
        )
        if action.notify == "holder" and flow.is_chain:
            # The form on this hop's post shows this action too: a provisional event
            # (its hash is not needed for the form) joins the timeline read so far.
            this = Event(
                case_id=case.id, seq=case.last_seq + 1, at=at, actor=org.id, action="action_taken",
                step=name, from_state=before, to_state=case.state, note=note, payload=payload,
                prev_hash="", hash="",
            )  # fmt: skip
            events = [*read_events(ctx.ledger, conn, case.id), this]
            effects.outbox = chain_notices(
                ctx, flow, case, events, action=action, actor=org.id, at=at, note=note
            )
        shown = Shown(ctx, flow, org) if view else None
        event = self.recorder.append(
            conn, case, at=at, actor=org.id, action="action_taken", step=name,
            from_state=before, note=note, payload=payload, effects=effects, then=shown,
        )  # fmt: skip
        self.log.info("action.taken", case_id=case.id, actor=org.id, action=name, state=case.state)
        return Advanced(
            case.id, case.state, case.version, event, payload, view=shown.view if shown else None
        )

    def actions_for(self, view: CaseView, actor: str) -> list[str]:
        """The actions of a chain flow ``actor`` may do on the case ``view`` shows, now:
        those ``act`` would accept from it (by the same rules)."""
        ctx = self.ctx
        flow = ctx.registry.version(view.flow, view.flow_version)
        if not flow.is_chain or view.holder is None:
            return []
        org = ctx.directory.find(actor)
        ids = [o.id for o in view.chain]
        base = CaseFacts(kinds=frozenset(view.kinds), flags=frozenset(view.flags))
        orgs = ctx.directory.organisations()
        facts = chain_rules.facts(flow, base, ids, ids.index(view.holder.id), orgs)
        return [
            a.id
            for a in flow.actions.values()
            if view.state in a.sources
            and (ids[0] if a.by == "opener" else view.holder.id) == org.id
            and (a.only_if is None or a.only_if(facts))
        ]


def chain_notices(
    ctx: Context,
    flow: Flow,
    case: CaseRecord,
    events: Sequence[Event],
    *,
    action: Action | None,
    actor: str,
    at: datetime,
    note: str | None,
) -> list[OutboxRecord]:
    """The post and messages that tell a chain's new holder what reached it, with
    the case's form as the timeline leaves it (``action`` None: the opening)."""
    holder = chain_rules.links(case.chain)[case.chain_at]
    names = {o.id: o.name for o in ctx.directory.organisations().values()}
    opening = flow.spec.opening
    box = action.post_box if action is not None else opening.post_box if opening else None
    notices = ctx.notices
    root = notices.categories.get(flow.spec.report_category or "")
    category = f"{root} > {box}{names.get(actor, actor)}" if root and box else root
    context = {
        "inquiry_id": case.id,
        "title": case.title,
        "action": action.id if action is not None else "ask",
        "action_title": action.title if action else opening.title if opening else "",
        "sender": names.get(actor, actor),
        "recipient": names.get(holder, holder),
        "at": at,
        "note": note,
        "form": chain_rules.form_data(flow, case.id, case.title, events, names),
    }
    return notices.rows(
        case_id=case.id,
        event_seq=events[-1].seq,
        kind=flow.name,
        template=flow.spec.notice_template or "",
        context=context,
        recipients=[holder],
        sender_id=actor,
        category=category,
        at=at,
    )
