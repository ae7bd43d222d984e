"""The queries: cases, their timelines and deadlines, the site's posts, the outbox.

Nothing here writes. Every read of a case is made for a viewer, and a case is shown
only to its participants (and to ``SYSTEM``); to anyone else it does not exist
(``rules.visible``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from irflow.engine import chain as chain_rules
from irflow.engine import rules
from irflow.engine.columns import split
from irflow.engine.context import Context
from irflow.engine.flow import CaseFacts, Flow, FlowKind
from irflow.engine.ledger import CaseRecord, Ledger
from irflow.engine.recorder import read_events
from irflow.engine.rules import SystemViewer, Viewer
from irflow.engine.timeline import Event
from irflow.engine.views import CaseSummary, CaseView, DeadlineView, StepView
from irflow.errors import InvalidInput

if TYPE_CHECKING:
    from irflow.engine import forms
    from irflow.engine.tables import OutboxRow, SitePostRow


PAGE = 50
"""How many cases a list shows unless asked for another number."""
MAX_PAGE = 1000


def check_page(limit: int, after: int) -> None:
    """Refuse a page size outside 1..MAX_PAGE, or a negative case number to start after."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit {limit} is out of range; give a limit from 1 to {MAX_PAGE}")
    if after < 0:
        raise InvalidInput(
            f"after {after} is negative; give 0 (the first page) or the last case number shown"
        )


@dataclass(slots=True, kw_only=True)
class StoredCase(CaseRecord):
    """A case row as `case show` reads it: the hot path's columns and its two moments."""

    opened_at: datetime
    closed_at: datetime | None


class Queries:
    """Reads of cases and of what they caused."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def viewer_id(self, viewer: Viewer) -> str | SystemViewer:
        """``SYSTEM``, or the id of the organisation ``viewer`` names (resolved before
        any case is read, so a bad name is refused alike for every case number)."""
        return viewer if isinstance(viewer, SystemViewer) else self.ctx.directory.find(viewer).id

    def seen_row(self, case_id: int, viewer: Viewer) -> StoredCase:
        """The case's row, if ``viewer`` may see it; else not found, as a missing case."""
        me = self.viewer_id(viewer)
        row = self.case_row(case_id)
        rules.check_visible(row, me)
        return row

    def timeline(self, case_id: int, *, viewer: Viewer) -> list[Event]:
        self.seen_row(case_id, viewer)
        return self.events(case_id)

    def events(self, case_id: int) -> list[Event]:
        """A case's timeline, for a caller that checked the viewer already."""
        ctx = self.ctx
        ctx.ready()
        with ctx.ledger.connection() as conn:
            return read_events(ctx.ledger, conn, case_id)

    def case_row(self, case_id: int) -> StoredCase:
        ctx = self.ctx
        ctx.ready()
        rows = ctx.ledger.read("case", case_id)
        if not rows:
            raise rules.no_case(case_id)
        return stored_case(ctx.ledger, rows[0])

    def case(self, case_id: int, *, viewer: Viewer) -> CaseView:
        """Everything about one case: participants, every step's status, the timeline."""
        ctx = self.ctx
        row = self.seen_row(case_id, viewer)
        flow = ctx.registry.version(row.flow, row.flow_version)
        return case_view(ctx, row, flow, self.events(case_id), self.rungs(case_id))

    def cases(
        self,
        *,
        state: str | None = None,
        overdue: bool = False,
        flow: str | None = None,
        of: FlowKind | None = None,
        viewer: Viewer,
        limit: int = PAGE,
        after: int = 0,
    ) -> list[CaseSummary]:
        """A page of the cases ``viewer`` may see (``SYSTEM``: every case), oldest
        first: at most ``limit`` of them, numbered above ``after`` (the last number of
        the page before); only those in ``state``, of ``flow``, of flows of the kind
        ``of`` (phases or states), or ``overdue`` ones.

        Every filter is in the statement, and the case id is both the order and the
        key, so a page reads at most ``limit`` rows whatever the table holds."""
        from sqlalchemy import exists, select
        from sqlmodel import col

        from irflow.engine.tables import CaseRow, DeadlineRow

        check_page(limit, after)
        ctx = self.ctx
        ctx.ready()
        if state is not None:  # the stored flows word a refusal; a plain list needs none
            ctx.registry.check_state(state, flow, ctx.registry.stored().values())
        me = self.viewer_id(viewer)
        case_id = col(CaseRow.id)
        late = exists().where(
            col(DeadlineRow.case_id) == case_id, col(DeadlineRow.fired_at).is_not(None)
        )
        query = (
            select(
                case_id,
                col(CaseRow.flow),
                col(CaseRow.state),
                col(CaseRow.version),
                col(CaseRow.title),
                col(CaseRow.reporter_id),
                col(CaseRow.coordinator_id),
                col(CaseRow.chain),
                col(CaseRow.chain_at),
            )
            .where(case_id > after, rules.visible_where(me))
            .order_by(case_id)
            .limit(limit)
        )
        if state is not None:
            query = query.where(col(CaseRow.state) == state)
        if flow is not None:
            query = query.where(col(CaseRow.flow) == flow)
        if of is not None:
            stateful = of == "states"
            kind = [f.name for f, _ in ctx.registry.current().values() if f.stateful == stateful]
            query = query.where(col(CaseRow.flow).in_(kind))
        if overdue:
            query = query.where(late)
        with ctx.sa.connect() as conn:
            rows = conn.execute(query).all()
            # The marks in a query of their own, on the page's numbers: as a column of
            # the page, PostgreSQL's planner reads every fired rung to hash them.
            marked = {r.id for r in rows} if overdue else self._overdue_among(conn, rows)
        by_id = ctx.directory.by_id
        return [
            CaseSummary(
                id=r.id,
                flow=r.flow,
                state=r.state,
                version=r.version,
                title=r.title,
                reporter=by_id(r.reporter_id),
                coordinator=by_id(r.coordinator_id),
                overdue=r.id in marked,
                holder=by_id(chain_rules.links(r.chain)[r.chain_at]) if r.chain else None,
            )
            for r in rows
        ]

    @staticmethod
    def _overdue_among(conn: Any, rows: Sequence[Any]) -> set[int]:
        """Which of the cases ``rows`` are overdue: one query on their numbers."""
        from sqlalchemy import select
        from sqlmodel import col

        from irflow.engine.tables import DeadlineRow

        if not rows:
            return set()
        query = (
            select(col(DeadlineRow.case_id))
            .where(
                col(DeadlineRow.case_id).in_([r.id for r in rows]),
                col(DeadlineRow.fired_at).is_not(None),
            )
            .distinct()
        )
        return set(conn.execute(query).scalars().all())

    def deadlines(self, case_id: int, *, viewer: Viewer) -> list[DeadlineView]:
        """The rungs of a case's open steps, fired or not, in order."""
        self.seen_row(case_id, viewer)
        return self.rungs(case_id)

    def rungs(self, case_id: int) -> list[DeadlineView]:
        """A case's rungs, for a caller that checked the viewer already."""
        ctx = self.ctx
        ctx.ready()
        with ctx.ledger.connection() as conn:
            return read_rungs(ctx.ledger, conn, case_id)

    def next_deadline(self) -> datetime | None:
        """When the next unfired rung falls due, if any."""
        from sqlalchemy import func
        from sqlmodel import Session, col, select

        from irflow.engine.tables import DeadlineRow

        self.ctx.ready()
        with Session(self.ctx.sa) as session:
            found = session.exec(
                select(func.min(DeadlineRow.due_at)).where(col(DeadlineRow.fired_at).is_(None))
            ).first()
        return self.ctx.ledger.read_moment(found) if found is not None else None

    def posts(self, actor: str) -> list[SitePostRow]:
        """The site posts ``actor`` may read: its own, those naming it, notices to all."""
        from sqlmodel import Session, col, select

        from irflow.engine.tables import SitePostRow

        org = self.ctx.directory.find(actor)
        with Session(self.ctx.sa) as session:
            rows = session.exec(select(SitePostRow).order_by(col(SitePostRow.posted_at))).all()
        return [
            p
            for p in rows
            if p.poster_id == org.id or org.id in json.loads(p.named) or p.named == "[]"
        ]

    def outbox(self, *, status: str | None = None) -> list[OutboxRow]:
        """The outbox's messages, oldest first (``status``: queued, sent or dead): the
        system's and the administrator's read, never an organisation's."""
        from sqlmodel import Session, col, select

        from irflow.engine.tables import OutboxRow

        self.ctx.ready()
        query = select(OutboxRow).order_by(col(OutboxRow.created_at), col(OutboxRow.id))
        if status is not None:
            query = query.where(col(OutboxRow.status) == status)
        with Session(self.ctx.sa) as session:
            return list(session.exec(query).all())

    def report(
        self,
        case_id: int,
        *,
        viewer: Viewer,
        part: forms.Part = "occurrence",
        format: forms.Format = "md",
        contact_person: str | None = None,
    ) -> str:
        """The form 事象発生報告書兼完了報告書 of a case (occurrence or completion part)."""
        from irflow.engine import forms, reports  # templates load only for a report

        if part not in ("occurrence", "completion"):
            raise InvalidInput(f"part {part!r} is unknown; use occurrence or completion")
        if format not in ("md", "html"):
            raise InvalidInput(f"format {format!r} is unknown; use md or html")
        view = self.case(case_id, viewer=viewer)
        flow = self.ctx.registry.version(view.flow, view.flow_version)
        names = {o.id: o.name for o in self.ctx.directory.organisations().values()}
        context = reports.incident_report_context(
            view, flow, names, part=part, contact_person=contact_person
        )
        return forms.render_incident_report(context, format=format)


def stored_case(ledger: Ledger, row: Sequence[Any]) -> StoredCase:
    """A row of the ledger's ``case`` read."""
    *columns, opened, closed = row
    moment = ledger.read_moment
    return StoredCase(
        *columns,
        opened_at=moment(opened),
        closed_at=moment(closed) if closed is not None else None,
    )


def read_rungs(ledger: Ledger, conn: Any, case_id: int) -> list[DeadlineView]:
    """A case's rungs, read on ``conn`` (inside a command's transaction, or not)."""
    moment = ledger.read_moment
    return [
        DeadlineView(
            step=step,
            rung=rung,
            action=action,
            opened_at=moment(opened),
            deadline_at=moment(deadline),
            due_at=moment(due),
            fired_at=moment(fired) if fired is not None else None,
        )
        for step, rung, action, opened, deadline, due, fired in ledger.read_in(
            conn, "deadlines", case_id
        )
    ]


def case_view(
    ctx: Context,
    row: StoredCase,
    flow: Flow,
    timeline: list[Event],
    deadlines: list[DeadlineView],
) -> CaseView:
    """The view of a case from its row, its flow, its timeline and its rungs."""
    done = json.loads(row.steps_done)
    facts = CaseFacts(kinds=split(row.kinds), flags=split(row.flags), done=done)
    steps = [
        StepView(
            id=s.id,
            tier=s.tier,
            title=s.title,
            phase=s.phase,
            status=flow.status(s, row.state, facts),
            required=flow.is_required(s, facts),
            done_by=done[s.id][0] if s.id in done else None,
            done_at=done[s.id][1] if s.id in done else None,
        )
        for s in flow.steps.values()
        if flow.present(s, facts)
    ]
    by_id = ctx.directory.by_id
    chain = chain_rules.links(row.chain)
    return CaseView(
        id=row.id,
        flow=row.flow,
        flow_version=row.flow_version,
        title=row.title,
        state=row.state,
        version=row.version,
        kinds=sorted(facts.kinds),
        flags=sorted(facts.flags),
        reporter=by_id(row.reporter_id),
        coordinator=by_id(row.coordinator_id),
        operator=by_id(row.operator_id),
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        steps=steps,
        timeline=timeline,
        deadlines=deadlines,
        chain=[by_id(o) for o in chain],
        holder=by_id(chain[row.chain_at]) if chain else None,
        actions=[a.id for a in flow.actions.values() if row.state in a.sources],
    )


def view_in(ctx: Context, conn: Any, case_id: int, flow: Flow, viewer: str) -> CaseView | None:
    """The case as ``viewer`` sees it, read on ``conn`` (a command's transaction, after
    its writes); None if ``viewer`` does not take part in it (any more)."""
    ledger = ctx.ledger
    row = stored_case(ledger, ledger.read_in(conn, "case", case_id)[0])
    if not rules.visible(row, viewer):
        return None
    return case_view(
        ctx, row, flow, read_events(ledger, conn, case_id), read_rungs(ledger, conn, case_id)
    )
