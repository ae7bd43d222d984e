"""The ``Engine`` facade: irflow's one entry point for commands and queries.

It holds no rule of its own: each method hands the call to the room that does the
job (``irflow.engine``'s module names say which):

- ``directory``: the organisations; ``registry``: the flows and their versions;
- ``rules``: who takes part in a case and may see it;
- ``commands``: opening cases, the steps of flows of phases, the actions of flows
  of states; every write ends in the ``recorder`` (row + event + effects, one
  transaction);
- ``queries``: cases, timelines, deadlines, posts, the outbox;
- ``audit``: verify and replay; ``escalation``: the sweep; ``outbox``: delivery;
- ``accounts``: people's accounts, passwords, API tokens, the security log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from irflow.clock import Clock, SystemClock
from irflow.engine import database
from irflow.engine.audit import Audit
from irflow.engine.commands.actions import StateCommands
from irflow.engine.commands.opening import Opening
from irflow.engine.commands.steps import PhaseCommands
from irflow.engine.context import Context
from irflow.engine.directory import Organisation
from irflow.engine.flow import Flow, FlowKind
from irflow.engine.ledger import Ledger
from irflow.engine.queries import PAGE, Queries
from irflow.engine.recorder import Advanced, Recorder
from irflow.engine.registry import FlowVersionInfo
from irflow.engine.rules import Viewer
from irflow.engine.timeline import ChainReport, Event
from irflow.engine.views import CaseContact, CaseSummary, CaseView, DeadlineView
from irflow.notifiers.base import Notifier

if TYPE_CHECKING:
    from irflow.engine import forms
    from irflow.engine.accounts import Accounts
    from irflow.engine.escalation import Fired
    from irflow.engine.outbox import Dispatcher, DrainReport
    from irflow.engine.routing import ContactPlan
    from irflow.engine.tables import OutboxRow, SitePostRow


@dataclass(frozen=True, slots=True)
class InitReport:
    """What ``Engine.init`` did: nothing, on a database that was ready."""

    migrated: bool
    organisations_added: int

    @property
    def changed(self) -> bool:
        return self.migrated or self.organisations_added > 0


class Engine:
    """irflow's one entry point for commands and queries on cases.

    ``url`` is a SQLAlchemy URL (``sqlite:///irflow.db`` by default, or
    ``$IRFLOW_DB``); ``clock`` is where the engine reads time; ``flows`` replaces the
    bundled flows (e.g. with a flow of your own under test); ``notifiers`` are the
    channels notifications go out by, besides the information sharing site;
    ``connections`` sizes the connection pool for that many threads' connections
    (default: SQLAlchemy's, for a command or a small program).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        flows: Sequence[Flow] | None = None,
        notifiers: Sequence[Notifier] = (),
        connections: int | None = None,
    ) -> None:
        sa = database.make_engine(url, connections=connections)
        self.url = sa.url.render_as_string(hide_password=True)
        self.ctx = ctx = Context(sa, clock=clock or SystemClock(), flows=flows, notifiers=notifiers)
        self.recorder = recorder = Recorder(ctx.ledger, ctx.audit_key)
        self.queries = Queries(ctx)
        self.audit = Audit(ctx, self.queries)
        self.opening = Opening(ctx, recorder)
        self.states = StateCommands(ctx, recorder)
        self.phases = PhaseCommands(ctx, recorder, self.states)

    # ------------------------------------------------------------------ set-up

    @property
    def sa(self) -> Any:
        """The SQLAlchemy engine (for tests and tools that look at the rows)."""
        return self.ctx.sa

    @property
    def ledger(self) -> Ledger:
        return self.ctx.ledger

    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    @property
    def notifiers(self) -> list[Notifier]:
        return self.ctx.notifiers

    @property
    def log(self) -> Any:
        return self.ctx.log

    @property
    def channels(self) -> list[str]:
        """The channels notifications go out by: the site, then every notifier."""
        return self.ctx.notices.channels

    def init(self) -> InitReport:
        """Create or upgrade the schema and add the bundled directory; idempotent."""
        migrated = database.migrate(self.ctx.sa)
        self.ctx.migrated()
        added = self.ctx.directory.add_bundled()
        return InitReport(migrated=migrated, organisations_added=added)

    def close(self) -> None:
        self.ctx.close()

    def ping(self) -> None:
        """Reach the database and its schema (a ``StorageError`` when it cannot be)."""
        self.ctx.ready()
        with self.ctx.sa.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self, at: datetime | None) -> datetime:
        return self.ctx.now(at)

    @cached_property
    def accounts(self) -> Accounts:
        """People's accounts, their passwords and API tokens, and the security log
        (loaded on first use: a command about cases never imports it)."""
        from irflow.engine.accounts import Accounts

        return Accounts(self.ctx)

    # ------------------------------------------------------------------ directory

    def organisations(self) -> dict[str, Organisation]:
        return self.ctx.directory.organisations()

    def organisation_by_id(self, org_id: str) -> Organisation:
        return self.ctx.directory.by_id(org_id)

    def organisation(self, ref: str) -> Organisation:
        """Find an organisation by id, local government code, or an unambiguous name."""
        return self.ctx.directory.find(ref)

    def search_organisations(self, text: str, *, exact: bool = False) -> list[Organisation]:
        """データ検索: by name (or id or code) starting with ``text``, or equal to it."""
        return self.ctx.directory.search(text, exact=exact)

    def import_organisations(self, path: Path) -> tuple[int, int]:
        """Load a directory CSV: add new organisations, update known ones (by id)."""
        return self.ctx.directory.import_file(path)

    def operator(self) -> Organisation:
        return self.ctx.directory.operator()

    def default_coordinator(self, reporter: Organisation) -> Organisation | None:
        """A municipality's prefecture, a prefecture's J-LIS, a national agency's ministry."""
        return self.ctx.directory.default_coordinator(reporter)

    # ------------------------------------------------------------------ flows

    def flows(self) -> dict[str, tuple[Flow, int]]:
        """The current flows by name, each with its version number."""
        return self.ctx.registry.current()

    def flow_version(self, name: str, version: int) -> Flow:
        """The flow a case runs under, parsed from the text stored with its version."""
        return self.ctx.registry.version(name, version)

    def flow_versions(self) -> list[FlowVersionInfo]:
        """Every version of every flow in the database, with its cases not closed."""
        return self.ctx.registry.versions()

    def flow_for_kinds(self, kinds: Iterable[str]) -> tuple[Flow, int, frozenset[str]]:
        """Pick the flow for a case's kinds: the one a kind selects, else the default."""
        return self.ctx.registry.for_kinds(kinds)

    # ------------------------------------------------------------------ commands

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
        """Open a case for ``reporter``; its first event is ``opened``. With ``view``, the
        result carries the case as the reporter sees it (``Advanced.view``), read in the
        command's own transaction: a face shows it without reading the case again."""
        return self.opening.open_case(
            reporter=reporter, title=title, kinds=kinds, coordinator=coordinator, at=at,
            note=note, confirmed=confirmed, view=view,
        )  # fmt: skip

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
        """Complete ``step`` of a case as ``actor`` (an action, on a flow of states).

        ``of`` ("phases" or "states") refuses, before anything is written, a case whose
        flow is of the other kind (a face's command meant for one kind). With ``view``,
        the result carries the case as ``actor`` sees it afterwards (``Advanced.view``),
        read in the command's own transaction."""
        return self.phases.advance(
            case_id, step, actor=actor, note=note, at=at, expect_version=expect_version,
            declare=declare, of=of, view=view,
        )  # fmt: skip

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
        """Declare a flag of the flow on a case, outside any step (``irflow case declare``;
        ``view`` as for ``advance``)."""
        return self.phases.declare(
            case_id, flag, actor=actor, note=note, at=at, expect_version=expect_version,
            view=view,
        )  # fmt: skip

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
        (``view`` as for ``advance``: None if ``actor`` handed its own role over)."""
        return self.phases.assign_coordinator(
            case_id, coordinator=coordinator, actor=actor, note=note, at=at,
            expect_version=expect_version, view=view,
        )  # fmt: skip

    def contacts(
        self, case_id: int, *, actor: str, at: datetime | None = None
    ) -> list[CaseContact]:
        """The contact plans the actor's open steps call for; recorded on the timeline."""
        return self.phases.contacts(case_id, actor=actor, at=at)

    def actions_for(self, view: CaseView, actor: str) -> list[str]:
        """The actions of a chain flow ``actor`` may do now on the case ``view`` shows."""
        return self.states.actions_for(view, actor)

    # ------------------------------------------------------------------ escalation

    def sweep(
        self,
        at: datetime | None = None,
        *,
        limit: int | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> list[Fired]:
        """Fire every escalation rung due by ``at`` (default now), once each, in order;
        the rest wait for the next sweep once ``stopping()`` is true."""
        from irflow.engine import escalation  # the sweep's code loads for sweeps only

        self.ctx.ready()
        self.ctx.registry.current()
        return escalation.sweep(
            self.ctx, self.recorder, self.now(at), limit=limit, stopping=stopping
        )

    def next_deadline(self) -> datetime | None:
        """When the next unfired rung falls due, if any."""
        return self.queries.next_deadline()

    # ------------------------------------------------------------------ outbox and site

    @cached_property
    def dispatcher(self) -> Dispatcher:
        from irflow.engine.outbox import Dispatcher  # delivery code loads for delivery only

        return Dispatcher(self.ctx.sa, self.ctx.notifiers, self.organisations())

    def drain(
        self,
        at: datetime | None = None,
        *,
        limit: int = 200,
        stopping: Callable[[], bool] = lambda: False,
    ) -> DrainReport:
        """Send the queued notifications that are due; retry or bury the failures; the
        rest stay queued once ``stopping()`` is true."""
        self.ctx.ready()
        return self.dispatcher.drain(self.now(at), limit=limit, stopping=stopping)

    def outbox(self, *, status: str | None = None) -> list[OutboxRow]:
        """The outbox's messages, oldest first (``status``: queued, sent or dead)."""
        return self.queries.outbox(status=status)

    def retry(self, message_id: str, at: datetime | None = None) -> OutboxRow:
        """Requeue a dead or failing message, due now."""
        from irflow.engine.outbox import requeue  # delivery code loads for delivery only

        self.ctx.ready()
        return requeue(self.ctx.sa, message_id, self.now(at))

    def posts(self, actor: str) -> list[SitePostRow]:
        """The site posts ``actor`` may read: its own, those naming it, notices to all."""
        return self.queries.posts(actor)

    # ------------------------------------------------------------------ contact routing

    def route(
        self, sender: str, recipient: str, situation: str, at: datetime | None = None
    ) -> ContactPlan:
        """How ``sender`` reaches ``recipient`` (or the routing hub, the operator) now."""
        from irflow.engine.routing import plan_contact  # loaded with the routing rules

        ctx = self.ctx
        routing = ctx.routing
        routing.check_situation(situation)
        src = ctx.directory.find(sender)
        # The hub (the network's operator) is named by its audience, as routing.yaml says.
        hub = recipient.strip() == routing.hub
        dst = ctx.directory.operator() if hub else ctx.directory.find(recipient)
        return plan_contact(routing, ctx.calendar, src, dst, situation, self.now(at))

    # ------------------------------------------------------------------ queries
    # Every read of a case is made for a ``viewer``: an organisation, which sees only
    # the cases it takes part in, or ``SYSTEM`` (the local administrator), which sees
    # every case. To anyone else a case does not exist.

    def timeline(self, case_id: int, *, viewer: Viewer) -> list[Event]:
        """A case's events, oldest first."""
        return self.queries.timeline(case_id, viewer=viewer)

    def case(self, case_id: int, *, viewer: Viewer) -> CaseView:
        """Everything about one case: participants, every step's status, the timeline."""
        return self.queries.case(case_id, viewer=viewer)

    def cases(
        self,
        *,
        viewer: Viewer,
        state: str | None = None,
        overdue: bool = False,
        flow: str | None = None,
        of: FlowKind | None = None,
        limit: int = PAGE,
        after: int = 0,
    ) -> list[CaseSummary]:
        """A page of the cases ``viewer`` may see, oldest first, filtered as asked
        (``of``: only cases of flows of phases, or of states): at most ``limit``
        (1 to 1,000), numbered above ``after`` (the last one shown)."""
        return self.queries.cases(
            state=state, overdue=overdue, flow=flow, of=of, viewer=viewer, limit=limit,
            after=after,
        )  # fmt: skip

    def deadlines(self, case_id: int, *, viewer: Viewer) -> list[DeadlineView]:
        """The rungs of a case's open steps, fired or not, in order."""
        return self.queries.deadlines(case_id, viewer=viewer)

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
        return self.queries.report(
            case_id, viewer=viewer, part=part, format=format, contact_person=contact_person
        )

    # ------------------------------------------------------------------ audit

    def verify(self, case_id: int | None = None, *, viewer: Viewer) -> list[ChainReport]:
        """Prove one case, or every case ``viewer`` may see: its hash chain (and seals,
        with ``$IRFLOW_AUDIT_KEY``) and its row as the replayed timeline gives it."""
        return self.audit.verify(case_id, viewer=viewer)

    def verify_iter(self, case_id: int | None = None, *, viewer: Viewer) -> Iterator[ChainReport]:
        """``verify``'s verdicts one by one, in case id order, in constant memory."""
        return self.audit.verify_iter(case_id, viewer=viewer)

    def replay(self, case_id: int, *, viewer: Viewer) -> str:
        """The state a case's timeline leads to, replayed through the flow's machine."""
        return self.audit.replay(case_id, viewer=viewer)
