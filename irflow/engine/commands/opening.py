"""Opening a case: the reporter (or an inquiry's asker) starts a flow."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from irflow.engine import chain as chain_rules
from irflow.engine import rules, tiers
from irflow.engine.columns import clean_text
from irflow.engine.commands.actions import chain_notices
from irflow.engine.commands.base import CommandRoom, Shown
from irflow.engine.commands.checks import assignable_coordinators, check_confirmed
from irflow.engine.directory import Organisation
from irflow.engine.effects import deadlines_for, open_steps
from irflow.engine.flow import CaseFacts, CaseModel
from irflow.engine.ledger import CaseRecord, Effects, EventRecord
from irflow.engine.recorder import Advanced, event_from_record
from irflow.engine.timeline import GENESIS
from irflow.errors import InvalidInput


class Opening(CommandRoom):
    """Opens cases of either kind of flow."""

    def open_case(
        self,
        *,
        reporter: str,
        title: str,
        kinds: Sequence[str] = (),
        coordinator: str | None = None,
        at: datetime | None = None,
        note: str | None = None,
        confirmed: Sequence[str] = (),
        view: bool = False,
    ) -> Advanced:
        """Open a case for ``reporter``; its first event is ``opened``.

        ``note`` is the case's opening text (an inquiry's question); ``confirmed``
        lists what the opener confirms of what the flow asks (its ``confirm:``); with
        ``view``, the result carries the case as the reporter sees it (``Advanced.view``)."""
        ctx = self.ctx
        moment = ctx.now(at)
        clean_text("the title", title)
        clean_text("the note", note)
        if not title.strip():
            raise InvalidInput("a case needs a title; pass --title with a short summary")
        rep = ctx.directory.find(reporter)
        flow, version, case_kinds = ctx.registry.for_kinds(kinds)
        check_confirmed(flow, confirmed)
        chain: list[str] = []
        if flow.is_chain:
            if coordinator is not None:
                raise InvalidInput(
                    f"a {flow.title} ({flow.name}) goes to its reception tier; it takes no "
                    "--coordinator"
                )
            chain = chain_rules.start(flow, rep, ctx.directory.organisations())
            coord = ctx.directory.by_id(chain[1])
        else:
            if not tiers.TYPES[rep.type].reports:
                raise InvalidInput(
                    f"{rep.name} cannot be a case's reporter; the reporter is the agency where "
                    "the event happened (a municipality, prefecture or national agency)"
                )
            coord = self._coordinator_for(rep, coordinator)
        op = ctx.directory.operator()
        # A phase with no step this case needs closes at once (e.g. one that holds only
        # steps of another kind).
        start = CaseModel(flow.states[0], CaseFacts(kinds=case_kinds, flags=frozenset()))
        flow.settle(start)
        state = start.state
        record = CaseRecord(
            id=0,
            flow=flow.name,
            flow_version=version,
            title=title.strip(),
            kinds=",".join(sorted(case_kinds)),
            flags="",
            state=state,
            version=1,
            reporter_id=rep.id,
            coordinator_id=coord.id,
            operator_id=op.id,
            steps_done="{}",
            last_seq=1,
            last_hash="",
            chain=",".join(chain),
            chain_at=1 if chain else 0,
        )
        payload: dict[str, Any] = {
            "title": record.title,
            "kinds": sorted(case_kinds),
            "flow": flow.name,
            "flow_version": version,
            **rules.participants(record),
        }
        if chain:
            payload["chain"] = chain
        if confirmed:
            payload["confirmed"] = sorted(set(confirmed))

        written: list[EventRecord] = []

        def first_event(case_id: int) -> EventRecord:
            written.append(
                self.recorder.event(
                    case_id, 1, GENESIS, moment, rep.id, "opened", None, None, state, note, payload
                )
            )
            return written[0]

        if flow.stateful:
            opened: list[str] = [state] if state in flow.duties else []
        else:
            opened = sorted(open_steps(flow, state, CaseFacts(kinds=case_kinds, flags=frozenset())))
        calendar = ctx.calendar
        notices = ctx.notices if flow.is_chain and flow.spec.opening is not None else None

        def effects(case_id: int, event: EventRecord) -> Effects:
            fx = Effects(deadlines=deadlines_for(flow, case_id, opened, moment, calendar))
            if notices is not None:
                record.id = case_id
                fx.outbox = chain_notices(
                    ctx, flow, record, [event_from_record(event, payload)], action=None,
                    actor=rep.id, at=moment, note=note,
                )  # fmt: skip
            return fx

        shown = Shown(ctx, flow, rep) if view else None
        with ctx.ledger.connection() as conn:
            case_id = ctx.ledger.open(conn, record, moment, first_event, effects, then=shown)
        self.log.info("case.opened", case_id=case_id, actor=rep.id, flow=flow.name)
        return Advanced(case_id, state, 1, written[0], view=shown.view if shown else None)

    def _coordinator_for(self, reporter: Organisation, ref: str | None) -> Organisation:
        """The default coordinator, or the competent ministry or aggregation agency named."""
        directory = self.ctx.directory
        default = directory.default_coordinator(reporter)
        if ref is None:
            if default is None:
                raise InvalidInput(
                    f"the directory names no coordinator for {reporter.name}; pass "
                    "--coordinator with its competent ministry or aggregation agency"
                )
            return default
        coord = directory.find(ref)
        if coord.id == reporter.id or (coord != default and coord.type not in tiers.ASSIGNABLE):
            usual = f"its own coordinator is {default.name}; " if default else ""
            raise InvalidInput(
                f"{coord.name} cannot coordinate a case of {reporter.name}: {usual}another "
                f"coordinator can only be {assignable_coordinators()}"
            )
        return coord
