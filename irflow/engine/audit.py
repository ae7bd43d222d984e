"""The audit: prove a case's history untouched, and replay it to its state.

``verify`` recomputes every event's hash along the chain and compares the chain's
end with the case row; ``replay`` runs the timeline through the flow's machine.
"""

from __future__ import annotations

from irflow.engine import chain as chain_rules
from irflow.engine.context import Context
from irflow.engine.flow import CaseFacts, CaseModel
from irflow.engine.queries import Queries
from irflow.engine.rules import Viewer, visible
from irflow.engine.timeline import ChainReport, check_chain
from irflow.errors import InvalidInput


class Audit:
    """Verification and replay of cases' timelines."""

    def __init__(self, ctx: Context, queries: Queries) -> None:
        self.ctx = ctx
        self.queries = queries

    def verify(self, case_id: int | None = None, *, viewer: Viewer) -> list[ChainReport]:
        """Recompute the hash chain of one case, or of every case ``viewer`` may see."""
        ctx = self.ctx
        ctx.ready()
        me = self.queries.viewer_id(viewer)
        if case_id is not None:
            self.queries.seen_row(case_id, me)
        ids = [case_id] if case_id is not None else [r[0] for r in ctx.ledger.read("case_ids")]
        reports = []
        for cid in ids:
            row = self.queries.case_row(cid)
            if not visible(row, me):
                continue
            events = self.queries.events(cid)
            reports.append(check_chain(cid, events, last_seq=row.last_seq, last_hash=row.last_hash))
        return reports

    def replay(self, case_id: int, *, viewer: Viewer) -> str:
        """The state a case's timeline leads to, replayed through the flow's machine."""
        ctx = self.ctx
        events = self.queries.timeline(case_id, viewer=viewer)
        if not events or events[0].action != "opened":
            raise InvalidInput(f"case {case_id}'s timeline does not start with 'opened'")
        opened = events[0].payload
        flow = ctx.registry.version(str(opened["flow"]), int(opened["flow_version"]))
        facts = CaseFacts(kinds=frozenset(opened["kinds"]), flags=frozenset(), done={})
        model = CaseModel(flow.states[0], facts)
        if flow.stateful:
            # The chain as each action left it, and the state the machine takes it to.
            chain, orgs = list(opened.get("chain", ())), ctx.directory.organisations()
            for ev in events[1:]:
                if "reached" in ev.payload:  # an escalation, or a rung telling the tier above
                    chain.append(str(ev.payload["reached"]))
                if ev.action != "action_taken" or ev.step is None:
                    continue
                at = chain.index(str(ev.payload["to"])) if chain else 0
                model.facts = chain_rules.facts(flow, facts, chain, at, orgs)
                flow.machine.events[ev.step].trigger(model)
            return model.state
        flow.settle(model)
        for ev in events[1:]:
            facts.flags = facts.flags | frozenset(ev.payload.get("declared", ()))
            if ev.action != "step_completed" or ev.step is None:
                continue
            flow.machine.events[f"do_{ev.step}"].trigger(model)
            facts.done[ev.step] = [ev.actor, ev.at.isoformat()]
            flow.settle(model)
        return model.state
