"""The audit: prove each case row and its history untouched, and replay a case.

``verify`` reads the cases in batches (one query for a batch's rows, one for all
their events), recomputes every event's hash along its chain (and, with
``$IRFLOW_AUDIT_KEY``, checks every seal), then replays the timeline to the row it
should have left and names each column that differs. ``replay`` runs one timeline
through the flow's machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from transitions import MachineError

from irflow.engine import chain as chain_rules
from irflow.engine.context import Context
from irflow.engine.flow import CaseFacts, CaseModel
from irflow.engine.ledger import CaseRecord, EventRecord
from irflow.engine.queries import Queries
from irflow.engine.rules import SystemViewer, Viewer, held_by, no_case, visible
from irflow.engine.timeline import COMPACT, ChainReport, Difference, check_chain
from irflow.errors import InvalidInput, IrflowError

BATCH = 500
"""Cases verified per pair of queries: memory holds one batch, never the database."""

_LAST_ID = 2**63 - 1

# The row's columns in the order verify compares them (CaseRecord's names).
_COLUMNS = (
    "state", "flow", "flow_version", "title", "kinds", "reporter_id", "coordinator_id",
    "operator_id", "flags", "steps_done", "chain", "chain_at", "version", "last_seq",
    "last_hash",
)  # fmt: skip


class Audit:
    """Verification and replay of cases' timelines."""

    def __init__(self, ctx: Context, queries: Queries) -> None:
        self.ctx = ctx
        self.queries = queries
        self._key = ctx.audit_key

    @property
    def seals_checked(self) -> bool:
        """Whether verify checks seals: ``$IRFLOW_AUDIT_KEY`` was set when the engine began."""
        return self._key is not None

    def verify(self, case_id: int | None = None, *, viewer: Viewer) -> list[ChainReport]:
        """The verdict on one case, or on every case ``viewer`` may see (``verify_iter``
        streams them)."""
        return list(self.verify_iter(case_id, viewer=viewer))

    def verify_iter(
        self, case_id: int | None = None, *, viewer: Viewer, batch: int = BATCH
    ) -> Iterator[ChainReport]:
        """The verdicts on one case, or on every case ``viewer`` may see, in id order, a
        batch at a time."""
        ctx = self.ctx
        ctx.ready()
        me = self.queries.viewer_id(viewer)
        after, upto = (case_id - 1, case_id) if case_id is not None else (0, _LAST_ID)
        while True:
            rows, events = self._batch(after, upto, batch)
            if not rows:
                if case_id is not None:
                    raise no_case(case_id)
                return
            by_case: dict[int, list[EventRecord]] = {row.id: [] for row in rows}
            orphans: dict[int, int] = {}
            for ev in events:
                if ev.case_id in by_case:
                    by_case[ev.case_id].append(ev)
                else:  # on SQLite without foreign keys, a case row can go and leave its events
                    orphans[ev.case_id] = orphans.get(ev.case_id, 0) + 1
            if case_id is not None and not visible(rows[0], me):
                raise no_case(case_id)  # an outsider's case does not exist
            for row in rows:
                if visible(row, me):
                    yield self._verdict(row, by_case.pop(row.id))
            for cid, count in orphans.items() if isinstance(me, SystemViewer) else ():
                yield ChainReport(
                    case_id=cid, events=count, ok=False, bad_seq=1,
                    problem=f"the case row is gone; {count} of its events remain",
                )  # fmt: skip
            if case_id is not None:
                return
            after = rows[-1].id

    def _batch(
        self, after: int, upto: int, size: int
    ) -> tuple[list[CaseRecord], list[EventRecord]]:
        """Up to ``size`` case rows with ids in (after, upto] and all their events, read
        in one snapshot so that a command writing meanwhile is seen whole or not at all."""
        ledger = self.ctx.ledger
        with ledger.connection() as conn:
            # SQLite: an explicit transaction holds one snapshot across both reads;
            # PostgreSQL: REPEATABLE READ does (READ COMMITTED takes one per statement).
            conn.cursor().execute(
                "BEGIN" if ledger.sqlite else "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"
            )
            rows = [CaseRecord(*r) for r in ledger.read_in(conn, "verify_cases", after, upto, size)]
            if not rows:
                return [], []
            found = ledger.read_in(conn, "verify_events", after, rows[-1].id)
        moment = ledger.read_moment
        events = []
        for r in found:
            ev = EventRecord(*r)
            ev.at = moment(ev.at)
            events.append(ev)
        return rows, events

    def _verdict(self, row: CaseRecord, events: list[EventRecord]) -> ChainReport:
        chain = check_chain(events, last_seq=row.last_seq, last_hash=row.last_hash, key=self._key)
        differences = tuple(self._differences(row, events))
        return ChainReport(
            case_id=row.id,
            events=chain.events,
            ok=chain.problem is None and not differences,
            bad_seq=chain.bad_seq,
            problem=chain.problem,
            differences=differences,
            seals=chain.seals if self._key is not None else None,
        )

    def _differences(self, row: CaseRecord, events: Sequence[EventRecord]) -> Iterator[Difference]:
        """The columns of ``row`` that its replayed timeline does not give."""
        try:
            replayed = self._replay_row(events)
        except (IrflowError, MachineError, KeyError, TypeError, ValueError) as exc:
            # A timeline that cannot be replayed gives no row: its state is the one named.
            yield Difference("state", row.state, f"(the timeline does not replay: {exc})")
            return
        for column in _COLUMNS:
            stored, again = getattr(row, column), replayed[column]
            if column == "steps_done":
                if stored != again and _moments(stored) != _moments(again):
                    yield Difference(column, stored, again)
            elif stored != again:
                yield Difference(column, stored, again)

    def replay(self, case_id: int, *, viewer: Viewer) -> str:
        """The state a case's timeline leads to, replayed through the flow's machine."""
        ctx = self.ctx
        self.queries.seen_row(case_id, viewer)  # not found, if not the viewer's to see
        events = [EventRecord(*r) for r in ctx.ledger.read("events", case_id)]
        for ev in events:
            ev.at = ctx.ledger.read_moment(ev.at)
        return str(self._replay_row(events)["state"])

    def _replay_row(self, events: Sequence[EventRecord]) -> dict[str, Any]:
        """The case row (``CaseRecord``'s columns) that ``events`` leave, replayed: the
        state through the flow's machine, the rest from the events' payloads."""
        if not events or events[0].action != "opened":
            case = f"case {events[0].case_id}'s" if events else "the"
            raise InvalidInput(f"{case} timeline does not start with 'opened'")
        ctx = self.ctx
        opened = json.loads(events[0].payload)
        flow = ctx.registry.version(str(opened["flow"]), int(opened["flow_version"]))
        facts = CaseFacts(kinds=frozenset(opened["kinds"]), flags=frozenset(), done={})
        model = CaseModel(flow.states[0], facts)
        reporter, coordinator, operator = held_by(opened)
        chain: list[str] = list(opened.get("chain", ()))
        chain_at = 1 if chain else 0
        orgs = ctx.directory.organisations() if flow.stateful else {}
        completions = ctx.completions
        flow.settle(model)
        for ev in events[1:]:
            payload = json.loads(ev.payload) if ev.payload != "{}" else {}
            flags_before = facts.flags
            facts.flags = facts.flags | frozenset(payload.get("declared", ()))
            if "reached" in payload:  # an escalation, or an action, brought in a link
                chain.append(str(payload["reached"]))
            if ev.action == "coordinator_assigned":
                coordinator = payload["to"]
            elif ev.step is None:
                continue
            elif flow.stateful and ev.action == "action_taken":
                # The chain as the action left it, and the state the machine takes it to.
                chain_at = chain.index(str(payload["to"])) if chain else 0
                model.facts = chain_rules.facts(flow, facts, chain, chain_at, orgs)
                flow.machine.events[ev.step].trigger(model)
            elif ev.action == "step_completed":
                # Worked out once per flow version and shape of case, as the commands do
                # (and remembered in the same place).
                prior = CaseFacts(kinds=facts.kinds, flags=flags_before, done=dict(facts.done))
                facts.done[ev.step] = [ev.actor_id, ev.at.isoformat()]
                model.state = completions.complete(flow, ev.step, (model.state, prior), facts)[0]
        return {
            "state": model.state,
            "flow": flow.name,
            "flow_version": int(opened["flow_version"]),
            "title": opened["title"],
            "kinds": ",".join(sorted(facts.kinds)),
            "reporter_id": reporter,
            "coordinator_id": coordinator,
            "operator_id": operator,
            "flags": ",".join(sorted(facts.flags)),
            "steps_done": COMPACT.encode(facts.done),
            "chain": ",".join(chain),
            "chain_at": chain_at,
            "version": len(events),
            "last_seq": events[-1].seq,
            "last_hash": events[-1].hash,
        }


def _moments(steps_done: str) -> dict[str, tuple[str, datetime]] | str:
    """``steps_done`` with each moment as an instant (a command may have been given its
    moment in Japan time; the event keeps it in UTC), or the text if it is not JSON."""
    try:
        done = json.loads(steps_done)
        return {step: (who, datetime.fromisoformat(at)) for step, (who, at) in done.items()}
    except (ValueError, TypeError, AttributeError):
        return steps_done
