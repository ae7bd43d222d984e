"""The ``Engine`` facade: every command on a case enters here.

A command names its actor (an organisation), is authorised against the case's
participants and the step's tier, is checked by the flow's shared state machine,
and is applied in ONE transaction (``Ledger.apply``): the case row under an
optimistic version check, and the event appended to the hash-chained timeline.
Either all of it commits or none of it does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache, wraps
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from irflow.clock import Clock, SystemClock, as_aware
from irflow.engine import chain as chain_rules
from irflow.engine import database
from irflow.engine.calendar import AdminCalendar
from irflow.engine.directory import (
    Organisation,
    OrgType,
    Tier,
    check_references,
    load_bundled,
    match,
    read_csv_file,
)
from irflow.engine.effects import SITE, Notices, deadlines_for, escalation_changes, open_steps
from irflow.engine.flow import (
    BUNDLED,
    CLOSED,
    Action,
    CaseFacts,
    CaseModel,
    Flow,
    Step,
    bundled_flow,
    parse_flow,
)
from irflow.engine.ledger import CaseRecord, Effects, EventRecord, Ledger, OutboxRecord
from irflow.engine.timeline import (
    COMPACT,
    GENESIS,
    ChainReport,
    Event,
    check_chain,
    dump_payload,
    event_hash,
)
from irflow.engine.views import CaseContact, CaseSummary, CaseView, DeadlineView, StepView
from irflow.errors import (
    AmbiguousName,
    Conflict,
    InvalidFlow,
    InvalidInput,
    NotAllowed,
    NotFound,
    StepNotOpen,
)
from irflow.notifiers.base import Notifier

if TYPE_CHECKING:
    # Imported where used: `irflow case show` loads no sweep, outbox or template code.
    from irflow.engine import forms
    from irflow.engine.escalation import Fired
    from irflow.engine.outbox import Dispatcher, DrainReport
    from irflow.engine.routing import ContactPlan, RoutingRules
    from irflow.engine.tables import CaseRow, OrganisationRow, OutboxRow, SitePostRow


_P = ParamSpec("_P")
_R = TypeVar("_R")

RACE_RERUNS = 3
"""How many times a command is run again after another writer changed its case
between the command's read and its write."""


def _rerun_on_race(
    command: Callable[Concatenate[Engine, _P], _R],
) -> Callable[Concatenate[Engine, _P], _R]:
    """Run a command again, from a fresh read, when another writer changed its case
    between the command's read and its write (an escalation sweep firing a rung, or
    another coordinator).

    The rerun checks every rule again on the case as it is now, so it succeeds or
    fails exactly as the command would have alone. A caller that passed
    ``expect_version`` gets the conflict instead: the case is no longer the one it
    looked at.
    """

    @wraps(command)
    def run(engine: Engine, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        for _ in range(RACE_RERUNS):
            try:
                return command(engine, *args, **kwargs)
            except Conflict as conflict:
                if conflict.actual is not None or kwargs.get("expect_version") is not None:
                    raise
                engine.log.info("command.rerun", command=command.__name__, case_id=conflict.case_id)
        return command(engine, *args, **kwargs)

    return run


Completion = tuple[str, tuple[str, ...], tuple[str, ...]]
"""What completing a step does: the state settled in, the steps opened and closed."""


@dataclass(frozen=True, slots=True)
class InitReport:
    """What ``Engine.init`` did: nothing, on a database that was ready."""

    migrated: bool
    organisations_added: int

    @property
    def changed(self) -> bool:
        return self.migrated or self.organisations_added > 0


@dataclass(frozen=True, slots=True)
class FlowVersionInfo:
    """One stored version of a flow: whether new cases take it, and its open cases."""

    flow: Flow
    version: int
    current: bool
    open: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.flow.name,
            "title": self.flow.title,
            "version": self.version,
            "current": self.current,
            "open": self.open,
            "kinds": list(self.flow.spec.kinds),
            "selected_by": self.flow.spec.selected_by,
        }


class Advanced:
    """The outcome of a command: the case's new state and version, and its event.

    The ``Event`` is built when first asked for: most callers look only at the state,
    and building it cost 4-8 µs a step of bench/advance.py's run.
    """

    __slots__ = ("_event", "_payload", "_record", "case_id", "state", "version")

    def __init__(
        self,
        case_id: int,
        state: str,
        version: int,
        record: EventRecord,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """``payload`` is the record's payload as a dict, when it is at hand."""
        self.case_id = case_id
        self.state = state
        self.version = version
        self._record = record
        self._payload = payload
        self._event: Event | None = None

    @property
    def event(self) -> Event:
        if self._event is None:
            self._event = _event_from_record(self._record, self._payload)
        return self._event

    def __repr__(self) -> str:
        return (
            f"Advanced(case_id={self.case_id}, state={self.state!r}, version={self.version}, "
            f"event={self.event!r})"
        )


class Engine:
    """irflow's one entry point for commands and queries on cases.

    ``url`` is a SQLAlchemy URL (``sqlite:///irflow.db`` by default, or
    ``$IRFLOW_DB``); ``clock`` is where the engine reads time; ``flows`` replaces the
    bundled flows (e.g. with a flow of your own under test); ``notifiers`` are the
    channels notifications go out by, besides the information sharing site.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        flows: Sequence[Flow] | None = None,
        notifiers: Sequence[Notifier] = (),
    ) -> None:
        self.sa = database.make_engine(url)
        self.url = self.sa.url.render_as_string(hide_password=True)
        self.clock: Clock = clock or SystemClock()
        self.ledger = Ledger(self.sa)
        self._given_flows = list(flows) if flows is not None else None
        self.notifiers = list(notifiers)
        self._current: dict[str, tuple[Flow, int]] | None = None
        self._versions: dict[tuple[str, int], Flow] = {}
        self._orgs: dict[str, Organisation] | None = None
        self._schema_checked = False
        self._completions: dict[tuple[Any, ...], Completion] = {}
        self._steps_done = _StepsDone()

    # ------------------------------------------------------------------ set-up

    # The ORM (SQLModel) serves the paths that are not the hot path nor `case show`;
    # its tables are imported where used.

    def init(self) -> InitReport:
        """Create or upgrade the schema and add the bundled directory; idempotent."""
        from sqlmodel import Session, select

        from irflow.engine.tables import OrganisationRow

        migrated = database.migrate(self.sa)
        self._schema_checked = True
        with Session(self.sa) as session:
            present = set(session.exec(select(OrganisationRow.id)).all())
            added = [o for o in load_bundled() if o.id not in present]
            for org in added:
                session.add(_org_row(org))
            session.commit()
        self._orgs = None
        return InitReport(migrated=migrated, organisations_added=len(added))

    def _ready(self) -> None:
        if not self._schema_checked:
            database.require_schema(self.sa)
            self._schema_checked = True

    def close(self) -> None:
        self.ledger.close()
        self.sa.dispose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @cached_property
    def log(self) -> Any:
        """The engine's structlog logger; imported on first use, so reads don't pay for it."""
        import structlog

        if not structlog.is_configured():
            from irflow.logs import configure

            configure(stdlib=False)  # quiet and masked, never structlog's stdout default
        return structlog.get_logger("irflow")

    def now(self, at: datetime | None) -> datetime:
        return as_aware(at) if at is not None else self.clock.now()

    # ------------------------------------------------------------------ directory

    def organisations(self) -> dict[str, Organisation]:
        if self._orgs is None:
            self._ready()
            self._orgs = {r[0]: _org_from_tuple(r) for r in self.ledger.read("organisations")}
        return self._orgs

    def organisation_by_id(self, org_id: str) -> Organisation:
        """The organisation with this id; the directory is re-read once if another
        process added it since this engine loaded it."""
        org = self.organisations().get(org_id)
        if org is None:
            self._orgs = None
            org = self.organisations().get(org_id)
        if org is None:
            raise NotFound(f"no organisation with id {org_id!r} in the directory")
        return org

    def organisation(self, ref: str) -> Organisation:
        """Find an organisation by id, local government code, or an unambiguous name."""
        orgs = self.organisations()
        needle = ref.strip()
        if needle in orgs:
            return orgs[needle]
        by_code = [o for o in orgs.values() if o.code == needle]
        if by_code:
            return by_code[0]
        exact = [o for o in orgs.values() if o.name == needle]
        candidates = exact or [o for o in orgs.values() if o.name.startswith(needle)]
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise AmbiguousName(ref, [f"{o.name} ({o.id})" for o in candidates])
        raise NotFound(
            f"no organisation {ref!r} in the directory; find it with `irflow org search "
            f"{needle[:2] or 'TEXT'}` and give its id or code"
        )

    def search_organisations(self, text: str, *, exact: bool = False) -> list[Organisation]:
        """データ検索: by name (or id or code) starting with ``text``, or equal to it."""
        return match(list(self.organisations().values()), text, exact=exact)

    def import_organisations(self, path: Path) -> tuple[int, int]:
        """Load a directory CSV: add new organisations, update known ones (by id)."""
        from sqlmodel import Session

        from irflow.engine.tables import OrganisationRow

        orgs = read_csv_file(path)
        check_references(orgs, known_ids=self.organisations().keys())
        added = updated = 0
        with Session(self.sa) as session:
            for org in orgs:
                existing = session.get(OrganisationRow, org.id)
                if existing is None:
                    session.add(_org_row(org))
                    added += 1
                else:
                    for key, value in org.as_dict().items():
                        setattr(existing, key, value)
                    updated += 1
            session.commit()
        self._orgs = None
        return added, updated

    def operator(self) -> Organisation:
        operators = [o for o in self.organisations().values() if o.type is OrgType.OPERATOR]
        if len(operators) != 1:
            raise InvalidInput(
                f"the directory must hold exactly one operator organisation, it holds "
                f"{len(operators)}; fix it with `irflow org import`"
            )
        return operators[0]

    def default_coordinator(self, reporter: Organisation) -> Organisation | None:
        """A municipality's prefecture, a prefecture's J-LIS, a national agency's ministry."""
        orgs = self.organisations()
        if reporter.type is OrgType.MUNICIPALITY and reporter.prefecture:
            return orgs.get(reporter.prefecture)
        if reporter.type is OrgType.PREFECTURE:
            jlis = [o for o in orgs.values() if o.type is OrgType.JLIS]
            return jlis[0] if jlis else None
        if reporter.competent_ministry:
            return orgs.get(reporter.competent_ministry)
        return None

    # ------------------------------------------------------------------ flows

    def flows(self) -> dict[str, tuple[Flow, int]]:
        """The current flows by name, each with its version number."""
        if self._current is None:
            self._ready()
            given = (
                self._given_flows
                if self._given_flows is not None
                else [bundled_flow(n) for n in BUNDLED]
            )
            self._current = {}
            for flow in given:
                self._check_references(flow)
                version = self._register(flow)
                self._current[flow.name] = (flow, version)
                self._versions[(flow.name, version)] = flow
        return self._current

    def _check_references(self, flow: Flow) -> None:
        """What a flow names outside itself exists: site categories, organisations."""
        categories = self.routing[0].categories
        named = [("report_category", flow.spec.report_category)]
        named += [(f"step {s.id}: announce", s.announce) for s in flow.steps.values()]
        for where, key in named:
            if key is not None and key not in categories:
                raise InvalidFlow(
                    f"{where} names site category {key!r}, which routing.yaml does not "
                    f"declare; use one of {', '.join(categories)}",
                    path=flow.path,
                )
        orgs = self.organisations()
        for s in flow.steps.values():
            for target in s.reports_to:
                if target.startswith("org:") and target[4:] not in orgs:
                    raise InvalidFlow(
                        f"step {s.id} reports to {target}, which is not in the directory; "
                        "import it (`irflow org import`) or correct the id",
                        path=flow.path,
                    )

    def _register(self, flow: Flow) -> int:
        """The version number of this flow text; a text not seen before is a new version."""
        from sqlalchemy import func
        from sqlalchemy.exc import IntegrityError
        from sqlmodel import Session, col, select

        from irflow.engine.tables import FlowVersionRow

        with Session(self.sa) as session:
            found = session.exec(
                select(FlowVersionRow.version).where(
                    col(FlowVersionRow.name) == flow.name, col(FlowVersionRow.digest) == flow.digest
                )
            ).first()
            if found is not None:
                return int(found)
            latest = session.exec(
                select(func.max(FlowVersionRow.version)).where(
                    col(FlowVersionRow.name) == flow.name
                )
            ).first()
            version = int(latest or 0) + 1
            session.add(
                FlowVersionRow(
                    name=flow.name,
                    version=version,
                    digest=flow.digest,
                    source=flow.source,
                    registered_at=self.clock.now(),
                )
            )
            try:
                session.commit()
            except IntegrityError:
                # Another process registered a new version at the same moment: ask again.
                session.rollback()
                return self._register(flow)
            return version

    def flow_version(self, name: str, version: int) -> Flow:
        """The flow a case runs under, parsed from the text stored with its version.

        Only that flow is read: showing a case does not parse every flow file.
        """
        key = (name, version)
        if key not in self._versions:
            rows = self.ledger.read("flow_source", name, version)
            if not rows:
                raise NotFound(f"no flow {name!r} version {version} in this database")
            self._versions[key] = parse_flow(rows[0][0], path=f"{name} v{version}")
        return self._versions[key]

    def flow_versions(self) -> list[FlowVersionInfo]:
        """Every version of every flow in the database, with how many cases (or
        inquiries) not closed run under it; new cases take each flow's current one."""
        current = {name: version for name, (_, version) in self.flows().items()}
        open_items = {(n, int(v)): int(c) for n, v, c in self.ledger.read("open_by_version")}
        infos = []
        for name, version in self.ledger.read("flow_sources"):
            flow = self.flow_version(name, int(version))
            infos.append(
                FlowVersionInfo(
                    flow=flow,
                    version=int(version),
                    current=current.get(name) == int(version),
                    open=open_items.get((name, int(version)), 0),
                )
            )
        return infos

    def flow_for_kinds(self, kinds: Iterable[str]) -> tuple[Flow, int, frozenset[str]]:
        """Pick the flow for a case's kinds: the one a kind selects, else the default."""
        current = self.flows()
        wanted = frozenset(kinds)
        known = sorted({k for f, _ in current.values() for k in f.spec.kinds})
        unknown = sorted(wanted - set(known))
        if unknown:
            raise InvalidInput(f"unknown case kind {', '.join(unknown)}; use {', '.join(known)}")
        selecting = [(f, v) for f, v in current.values() if f.spec.selected_by in wanted]
        defaults = [(f, v) for f, v in current.values() if f.spec.selected_by is None]
        if len(selecting) > 1:
            names = ", ".join(f.spec.selected_by or "" for f, _ in selecting)
            raise InvalidInput(f"kinds {names} each need their own flow; open separate cases")
        if not selecting and not defaults:
            raise InvalidInput("no flow takes these kinds; give a kind a flow selects")
        flow, version = selecting[0] if selecting else defaults[0]
        chosen = wanted or frozenset({flow.spec.default_kind})
        if not flow.kinds_valid(chosen):
            bad = ", ".join(sorted(chosen - set(flow.spec.kinds)))
            raise InvalidInput(
                f"kind {bad} cannot be combined with {flow.spec.selected_by or 'these kinds'}: "
                f"flow {flow.name!r} takes {', '.join(flow.spec.kinds)}"
            )
        return flow, version, chosen

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
    ) -> Advanced:
        """Open a case for ``reporter``; its first event is ``opened``.

        ``note`` is the case's opening text (an inquiry's question); ``confirmed``
        lists what the opener confirms of what the flow asks (its ``confirm:``)."""
        moment = self.now(at)
        _clean_text("the title", title)
        _clean_text("the note", note)
        if not title.strip():
            raise InvalidInput("a case needs a title; pass --title with a short summary")
        rep = self.organisation(reporter)
        flow, version, case_kinds = self.flow_for_kinds(kinds)
        self._check_confirmed(flow, confirmed)
        chain: list[str] = []
        if flow.is_chain:
            if coordinator is not None:
                raise InvalidInput(
                    f"a {flow.title} ({flow.name}) goes to its reception tier; it takes no "
                    "--coordinator"
                )
            chain = chain_rules.start(flow, rep, self.organisations())
            coord = self.organisation_by_id(chain[1])
        else:
            if rep.type in (OrgType.OPERATOR, OrgType.OVERSIGHT):
                raise InvalidInput(
                    f"{rep.name} cannot be a case's reporter; the reporter is the agency where "
                    "the event happened (a municipality, prefecture or national agency)"
                )
            coord = self._coordinator_for(rep, coordinator)
        op = self.operator()
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
            "reporter": rep.id,
            "coordinator": coord.id,
            "operator": op.id,
        }
        if chain:
            payload["chain"] = chain
        if confirmed:
            payload["confirmed"] = sorted(set(confirmed))

        written: list[EventRecord] = []

        def first_event(case_id: int) -> EventRecord:
            written.append(
                self._event(
                    case_id, 1, GENESIS, moment, rep.id, "opened", None, None, state, note, payload
                )
            )
            return written[0]

        if flow.stateful:
            opened: list[str] = [state] if state in flow.duties else []
        else:
            opened = sorted(open_steps(flow, state, CaseFacts(kinds=case_kinds, flags=frozenset())))

        def effects(case_id: int, event: EventRecord) -> Effects:
            fx = Effects(deadlines=deadlines_for(flow, case_id, opened, moment, self.calendar))
            if flow.is_chain and flow.spec.opening is not None:
                record.id = case_id
                fx.outbox = self._chain_notices(
                    flow, record, [_event_from_record(event, payload)], action=None,
                    actor=rep.id, at=moment, note=note,
                )  # fmt: skip
            return fx

        with self.ledger.connection() as conn:
            case_id = self.ledger.open(conn, record, moment, first_event, effects)
        self.log.info("case.opened", case_id=case_id, actor=rep.id, flow=flow.name)
        return Advanced(case_id, state, 1, written[0])

    def _coordinator_for(self, reporter: Organisation, ref: str | None) -> Organisation:
        """The default coordinator, or the competent ministry or aggregation agency named."""
        default = self.default_coordinator(reporter)
        if ref is None:
            if default is None:
                raise InvalidInput(
                    f"the directory names no coordinator for {reporter.name}; pass "
                    "--coordinator with its competent ministry or aggregation agency"
                )
            return default
        coord = self.organisation(ref)
        allowed = {OrgType.MINISTRY, OrgType.AGGREGATION_AGENCY}
        if coord.id == reporter.id or (coord != default and coord.type not in allowed):
            usual = f"its own coordinator is {default.name}; " if default else ""
            raise InvalidInput(
                f"{coord.name} cannot coordinate a case of {reporter.name}: {usual}another "
                "coordinator can only be a competent ministry (所管府省) or an aggregation "
                "agency (集約機関)"
            )
        return coord

    @_rerun_on_race
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
    ) -> Advanced:
        """Complete ``step`` of a case as ``actor``; declare ``flags`` on the way."""
        moment = self.now(at)
        _clean_text("the note", note)
        with self.ledger.connection() as conn:
            case = self._load(conn, case_id)
            flow = self.flow_version(case.flow, case.flow_version)
            if flow.stateful:
                return self._act(
                    conn, case, flow, step, actor=actor, note=note, at=moment,
                    expect_version=expect_version, declare=declare,
                )  # fmt: skip
            spec = flow.steps.get(step)
            if spec is None:
                raise NotFound(
                    f"case {case_id} runs flow {flow.name!r}, which has no step {step!r}; "
                    f"its steps are {', '.join(flow.steps)}"
                )
            org = self._actor(case, actor)
            roles = self._roles(case, org)
            if spec.tier not in roles:
                raise NotAllowed(self._not_your_step(case, org, roles, spec))
            self._check_moment(case, moment)
            flags = self._declared_flags(case, flow, roles, declare)
            self._check_version(case, expect_version)
            done = self._steps_done.load(case.steps_done)
            facts = CaseFacts(kinds=_split(case.kinds), flags=flags, done=done)
            self._check_open(case, flow, spec, facts)
            self._check_flag_timing(case, flow, facts, declare)
            prior = (
                case.state,
                CaseFacts(kinds=facts.kinds, flags=_split(case.flags), done=dict(done)),
            )
            done[step] = [org.id, moment.isoformat()]
            state, opened, closed = self._complete(flow, step, prior, facts)
            payload: dict[str, Any] = {}
            new_flags = sorted(flags - prior[1].flags)
            if new_flags:
                payload["declared"] = new_flags
            expected, before = case.version, case.state
            case.state = state
            case.flags = ",".join(sorted(flags))
            case.steps_done = self._steps_done.dump(case.steps_done, done, step)
            effects = Effects(
                clear_steps=[step, *closed],
                deadlines=deadlines_for(flow, case.id, opened, moment, self.calendar),
                outbox=self.notices.for_step(
                    flow, case, spec, event_seq=case.last_seq + 1, at=moment, note=note,
                    actor=org.id,
                ),
            )  # fmt: skip
            event = self._append(
                conn, case, at=moment, actor=org.id, action="step_completed", step=step,
                from_state=before, note=note, payload=payload, effects=effects,
            )  # fmt: skip
            if event is None:
                raise self._conflict(case_id, expected)
        self.log.info("step.completed", case_id=case_id, actor=org.id, step=step, state=case.state)
        return Advanced(case_id, case.state, case.version, event, payload)

    def _act(
        self,
        conn: Any,
        case: CaseRecord,
        flow: Flow,
        name: str,
        *,
        actor: str,
        note: str | None,
        at: datetime,
        expect_version: int | None,
        declare: Sequence[str] = (),
    ) -> Advanced:
        """Do an action of a state flow (e.g. answer an inquiry): who may, from which
        state, how the chain's holder moves, and the state it leads to, all from the
        flow file."""
        org = self._actor(case, actor)
        roles = self._roles(case, org)
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
        orgs = self.organisations()
        chain = chain_rules.links(case.chain)
        holder = chain[case.chain_at] if chain else case.reporter_id
        who = chain[0] if action.by == "opener" and chain else holder
        if org.id != who:
            raise NotAllowed(
                f"{action.title} ({name}) of case {case.id} is done by its {action.by}, "
                f"{self._name(who)}; {org.name} is its {'/'.join(roles)}"
            )
        self._check_moment(case, at)
        self._check_version(case, expect_version)
        if case.state not in action.sources:
            raise StepNotOpen(
                f"{action.title} ({name}) is done while case {case.id} is "
                f"{' or '.join(action.sources)}; it is {case.state} "
                f"({flow.state_titles[case.state]})",
                case_id=case.id,
                step=name,
            )
        base = CaseFacts(kinds=_split(case.kinds), flags=_split(case.flags))
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
        expected, before = case.version, case.state
        case.state, case.chain, case.chain_at = model.state, ",".join(new_chain), new_at
        opened = [case.state] if case.state in flow.duties else []
        effects = Effects(
            clear_steps=[before] if before in flow.duties else [],
            deadlines=deadlines_for(flow, case.id, opened, at, self.calendar),
        )
        if action.notify == "holder" and flow.is_chain:
            # The form on this hop's post shows this action too: a provisional event
            # (its hash is not needed for the form) joins the timeline read so far.
            this = Event(
                case_id=case.id, seq=case.last_seq + 1, at=at, actor=org.id, action="action_taken",
                step=name, from_state=before, to_state=case.state, note=note, payload=payload,
                prev_hash="", hash="",
            )  # fmt: skip
            events = [*self._events_in(conn, case.id), this]
            effects.outbox = self._chain_notices(
                flow, case, events, action=action, actor=org.id, at=at, note=note
            )
        event = self._append(
            conn, case, at=at, actor=org.id, action="action_taken", step=name,
            from_state=before, note=note, payload=payload, effects=effects,
        )  # fmt: skip
        if event is None:
            raise self._conflict(case.id, expected)
        self.log.info("action.taken", case_id=case.id, actor=org.id, action=name, state=case.state)
        return Advanced(case.id, case.state, case.version, event, payload)

    def actions_for(self, view: CaseView, actor: str) -> list[str]:
        """The actions of a chain flow ``actor`` may do on the case ``view`` shows, now:
        those ``advance`` would accept from it (by the same rules as ``_act``)."""
        flow = self.flow_version(view.flow, view.flow_version)
        if not flow.is_chain or view.holder is None:
            return []
        org = self.organisation(actor)
        ids = [o.id for o in view.chain]
        base = CaseFacts(kinds=frozenset(view.kinds), flags=frozenset(view.flags))
        facts = chain_rules.facts(flow, base, ids, ids.index(view.holder.id), self.organisations())
        return [
            a.id
            for a in flow.actions.values()
            if view.state in a.sources
            and (ids[0] if a.by == "opener" else view.holder.id) == org.id
            and (a.only_if is None or a.only_if(facts))
        ]

    def _chain_notices(
        self,
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
        names = {o.id: o.name for o in self.organisations().values()}
        opening = flow.spec.opening
        box = action.post_box if action is not None else opening.post_box if opening else None
        root = self.notices.categories.get(flow.spec.report_category or "")
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
        return self.notices.rows(
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

    def _events_in(self, conn: Any, case_id: int) -> list[Event]:
        """A case's timeline, read inside the command's transaction."""
        events = []
        for row in self.ledger.read_in(conn, "events", case_id):
            record = EventRecord(*row)
            record.at = self.ledger.read_moment(record.at)
            events.append(_event_from_record(record))
        return events

    def _check_confirmed(self, flow: Flow, confirmed: Sequence[str]) -> None:
        unknown = sorted(set(confirmed) - set(flow.spec.confirm))
        if unknown:
            raise InvalidInput(
                f"flow {flow.name!r} asks no confirmation {', '.join(unknown)}; "
                f"it asks {', '.join(flow.spec.confirm) or 'none'}"
            )
        for key, what in flow.spec.confirm.items():
            if key not in confirmed:
                raise InvalidInput(
                    f"confirm first: {what} (--{key.replace('_', '-')}); nothing was opened"
                )

    @_rerun_on_race
    def declare(
        self,
        case_id: int,
        flag: str,
        *,
        actor: str,
        note: str | None = None,
        at: datetime | None = None,
        expect_version: int | None = None,
    ) -> Advanced:
        """Declare a flag of the flow on a case, outside any step (``irflow case declare``).

        E.g. the reporter finds the event is beyond its own capacity
        (自機関のみで対応可能な事象ではない): the coordinator's investigation becomes
        required, and the steps that now wait for it lose their deadlines.
        """
        moment = self.now(at)
        _clean_text("the note", note)
        with self.ledger.connection() as conn:
            case = self._load(conn, case_id)
            flow = self.flow_version(case.flow, case.flow_version)
            org = self._actor(case, actor)
            roles = self._roles(case, org)
            flags = self._declared_flags(case, flow, roles, [flag])
            self._check_moment(case, moment)
            self._check_version(case, expect_version)
            if case.state == CLOSED:
                raise InvalidInput(f"case {case_id} is closed; nothing can be declared on it")
            if flag in _split(case.flags):
                raise InvalidInput(f"flag {flag!r} is declared on case {case_id} already")
            done = json.loads(case.steps_done)
            facts = CaseFacts(kinds=_split(case.kinds), flags=flags, done=done)
            self._check_flag_timing(case, flow, facts, [flag])
            prior = (case.state, CaseFacts(kinds=facts.kinds, flags=_split(case.flags), done=done))
            opened, closed = escalation_changes(flow, None, prior, (case.state, facts))
            expected = case.version
            case.flags = ",".join(sorted(flags))
            effects = Effects(
                clear_steps=closed,
                deadlines=deadlines_for(flow, case.id, opened, moment, self.calendar),
            )
            event = self._append(
                conn, case, at=moment, actor=org.id, action="flag_declared", note=note,
                payload={"declared": [flag]}, effects=effects,
            )  # fmt: skip
            if event is None:
                raise self._conflict(case_id, expected)
        self.log.info("flag.declared", case_id=case_id, actor=org.id, flag=flag)
        return Advanced(case_id, case.state, case.version, event)

    @_rerun_on_race
    def assign_coordinator(
        self,
        case_id: int,
        *,
        coordinator: str,
        actor: str,
        note: str | None = None,
        at: datetime | None = None,
        expect_version: int | None = None,
    ) -> Advanced:
        """Make a competent ministry or aggregation agency the case's coordinator."""
        moment = self.now(at)
        _clean_text("the note", note)
        with self.ledger.connection() as conn:
            case = self._load(conn, case_id)
            org = self._actor(case, actor)
            roles = self._roles(case, org)
            if case.chain:
                raise InvalidInput(
                    f"case {case_id} follows a chain of reception tiers; its receivers change "
                    "by escalation, not by assignment"
                )
            if not {"operator", "coordinator"} & set(roles):
                raise NotAllowed(
                    f"only the operator or the current coordinator of case {case_id} may "
                    f"assign its coordinator; {org.name} is its {'/'.join(roles)}"
                )
            self._check_moment(case, moment)
            self._check_version(case, expect_version)
            new = self.organisation(coordinator)
            if new.type not in (OrgType.MINISTRY, OrgType.AGGREGATION_AGENCY):
                raise InvalidInput(
                    f"{new.name} is a {new.type.value}; a case's coordinator can be assigned "
                    "to a competent ministry (所管府省) or an aggregation agency (集約機関)"
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
            expected = case.version
            case.coordinator_id = new.id
            event = self._append(
                conn, case, at=moment, actor=org.id, action="coordinator_assigned", note=note,
                payload=payload,
            )  # fmt: skip
            if event is None:
                raise self._conflict(case_id, expected)
        self.log.info("coordinator.assigned", case_id=case_id, actor=org.id, to=new.id)
        return Advanced(case_id, case.state, case.version, event)

    def _complete(
        self, flow: Flow, step: str, prior: tuple[str, CaseFacts], facts: CaseFacts
    ) -> Completion:
        """What completing ``step`` (in ``facts.done`` already) does to a case that was
        ``prior``: the state it settles in, the steps it opened and closed for escalation.

        The machine, ``settle`` and the status comparisons look only at the facts'
        kinds, flags and which steps are done, never at by whom or when: each outcome
        is worked out once per flow version (17 µs a step of bench/advance.py's run;
        0.7 µs remembered).
        ``facts.done`` is ``prior``'s with ``step`` added, so the key names it once.
        """
        state, before = prior
        done = frozenset(before.done)
        key = (flow, step, state, before.kinds, before.flags, done, facts.kinds, facts.flags)
        known = self._completions.get(key)
        if known is None:
            model = CaseModel(state, facts)
            flow.machine.events[f"do_{step}"].trigger(model)
            flow.settle(model)
            opened, closed = escalation_changes(flow, step, prior, (model.state, facts))
            if len(self._completions) >= 4096:  # a bound, far above a flow's usual shapes
                self._completions.clear()
            known = self._completions[key] = (model.state, tuple(opened), tuple(closed))
        return known

    # ------------------------------------------------------------------ command checks

    def _load(self, conn: Any, case_id: int) -> CaseRecord:
        case = self.ledger.load(conn, case_id)
        if case is None:
            self._ready()
            raise _no_case(case_id)
        return case

    def _check_moment(self, case: CaseRecord, moment: datetime) -> None:
        """A command may not be dated before the case's latest event (after authorisation,
        so that a refused actor learns nothing of the case)."""
        if case.last_at is not None and moment < case.last_at:
            raise InvalidInput(
                f"case {case.id}'s latest event is at {case.last_at.isoformat()}; a command "
                f"cannot be dated before it ({moment.isoformat()}): give a later --at"
            )

    def _actor(self, case: CaseRecord, ref: str) -> Organisation:
        # The usual caller names a participant by id: no search needed.
        if ref in (case.reporter_id, case.coordinator_id, case.operator_id):
            return self.organisation_by_id(ref)
        return self.organisation(ref)

    def _roles(self, case: CaseRecord, org: Organisation) -> list[str]:
        if case.chain:
            return self._chain_roles(case, org)
        pairs = (
            ("reporter", case.reporter_id),
            ("coordinator", case.coordinator_id),
            ("operator", case.operator_id),
        )
        roles = [role for role, holder in pairs if holder == org.id]
        if roles:
            return roles
        if self.flow_version(case.flow, case.flow_version).private:
            raise _no_case(case.id)
        names = ", ".join(f"{role} {self._name(holder)}" for role, holder in pairs)
        raise NotAllowed(f"{org.name} is not a participant of case {case.id} ({names})")

    def _chain_roles(self, case: CaseRecord, org: Organisation) -> list[str]:
        """A chain's participants are the links it reached: the opener, the holder, and
        the receivers it passed. Anyone else learns nothing of a private case."""
        chain = chain_rules.links(case.chain)
        if org.id not in chain:
            if self.flow_version(case.flow, case.flow_version).private:
                raise _no_case(case.id)
            raise NotAllowed(f"{org.name} is not a participant of case {case.id}")
        roles = ["opener"] if chain[0] == org.id else []
        if chain[case.chain_at] == org.id:
            roles.append("holder")
        return roles or ["receiver"]

    def visible(self, case: CaseRecord, viewer: str | None) -> bool:
        """Whether ``viewer`` may see the case: anyone a case of a public flow, only
        its chain a private one (no viewer: public cases only)."""
        if not self.flow_version(case.flow, case.flow_version).private:
            return True
        if viewer is None:
            return False
        return self.organisation(viewer).id in _participant_ids(case)

    def _not_your_step(
        self, case: CaseRecord, org: Organisation, roles: list[str], step: Step
    ) -> str:
        who = {
            "reporter": case.reporter_id,
            "coordinator": case.coordinator_id,
            "operator": case.operator_id,
        }[step.tier]
        return (
            f"step {step.id!r} belongs to tier {step.tier!r}; {org.name} is the "
            f"{'/'.join(roles)} of case {case.id}; {self._name(who)} may do it"
        )

    def _name(self, org_id: str) -> str:
        org = self.organisations().get(org_id)
        return org.name if org else org_id

    def _declared_flags(
        self, case: CaseRecord, flow: Flow, roles: list[str], declare: Sequence[str]
    ) -> frozenset[str]:
        if not declare:
            return _split(case.flags)
        flags = set(_split(case.flags))
        for flag in declare:
            spec = flow.spec.flags.get(flag)
            if spec is None:
                known = ", ".join(flow.spec.flags) or "none"
                raise InvalidInput(f"flow {flow.name!r} has no flag {flag!r}; its flags: {known}")
            if spec.declared_by not in roles:
                raise NotAllowed(
                    f"flag {flag!r} ({spec.title}) is declared by the "
                    f"{spec.declared_by} of case {case.id}"
                )
            flags.add(flag)
        return frozenset(flags)

    def _check_version(self, case: CaseRecord, expect_version: int | None) -> None:
        if expect_version is not None and expect_version != case.version:
            raise Conflict(
                f"case {case.id} is at version {case.version}, not {expect_version}: someone "
                "changed it since you read it; look at `irflow case show` and try again",
                case_id=case.id,
                expected=expect_version,
                actual=case.version,
            )

    def _check_open(self, case: CaseRecord, flow: Flow, step: Step, facts: CaseFacts) -> None:
        if step.id in facts.done:
            by, when = facts.done[step.id]
            raise StepNotOpen(
                f"step {step.id!r} of case {case.id} was done already by "
                f"{self._name(by)} at {when}",
                case_id=case.id,
                step=step.id,
            )
        if not flow.present(step, facts):
            raise InvalidInput(
                f"step {step.id!r} is not part of case {case.id} (its kinds: "
                f"{case.kinds}); it applies when {step.only_if_name}"
            )
        if case.state == CLOSED:
            raise StepNotOpen(f"case {case.id} is closed", case_id=case.id, step=step.id)
        if not step.early and step.phase_index > flow.phase_index[case.state]:
            raise StepNotOpen(
                f"step {step.id!r} belongs to phase {step.phase!r}; case {case.id} is still in "
                f"phase {case.state!r}",
                case_id=case.id,
                step=step.id,
            )
        pending = flow.waits_for(step, facts)
        if pending:
            raise StepNotOpen(
                f"step {step.id!r} of case {case.id} waits for "
                f"{', '.join(pending)}; those come first",
                case_id=case.id,
                step=step.id,
            )

    def _check_flag_timing(
        self, case: CaseRecord, flow: Flow, facts: CaseFacts, declare: Sequence[str]
    ) -> None:
        """A flag that makes steps required may not be declared after their phase closed."""
        here = flow.phase_index[case.state]
        for flag in declare:
            for s in flow.steps.values():
                if s.required_if_name == f"flag:{flag}" and s.phase_index < here:
                    raise InvalidInput(
                        f"flag {flag!r} makes step {s.id!r} of phase {s.phase!r} required, and "
                        f"case {case.id} has left that phase; declare it before that phase ends"
                    )

    def _conflict(self, case_id: int, expected: int) -> Conflict:
        return Conflict(
            f"case {case_id} changed while this command ran (version {expected} is gone); "
            "look at `irflow case show` and try again",
            case_id=case_id,
            expected=expected,
            actual=None,
        )

    def _append(
        self,
        conn: Any,
        case: CaseRecord,
        *,
        at: datetime,
        actor: str | None,
        action: str,
        payload: dict[str, Any],
        step: str | None = None,
        from_state: str | None = None,
        note: str | None = None,
        effects: Effects | None = None,
    ) -> EventRecord | None:
        """Append one event to ``case`` and write it with the case row (as the caller
        changed it; ``from_state`` is the state before, if it moved) and ``effects``, in
        one transaction under the version check. None if the case changed meanwhile:
        then nothing was written."""
        expected, before = case.version, from_state or case.state
        case.version += 1
        event = self._event(case.id, case.last_seq + 1, case.last_hash, at, actor, action, step,
                            before, case.state, note, payload)  # fmt: skip
        case.last_seq, case.last_hash = event.seq, event.hash
        closed_at = at if case.state == CLOSED and before != CLOSED else None
        if not self.ledger.apply(
            conn, case, expected_version=expected, closed_at=closed_at, event=event,
            effects=effects,
        ):  # fmt: skip
            return None
        return event

    def _event(
        self,
        case_id: int,
        seq: int,
        prev_hash: str,
        at: datetime,
        actor: str | None,
        action: str,
        step: str | None,
        from_state: str | None,
        to_state: str | None,
        note: str | None,
        payload: dict[str, Any],
    ) -> EventRecord:
        payload_json = dump_payload(payload)
        digest = event_hash(
            case_id=case_id,
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            step=step,
            from_state=from_state,
            to_state=to_state,
            note=note,
            payload_json=payload_json,
            prev_hash=prev_hash or GENESIS,
        )
        return EventRecord(
            case_id,
            seq,
            at,
            actor,
            action,
            step,
            from_state,
            to_state,
            note,
            payload_json,
            prev_hash or GENESIS,
            digest,
        )

    # ------------------------------------------------------------------ escalation

    def sweep(self, at: datetime | None = None, *, limit: int | None = None) -> list[Fired]:
        """Fire every escalation rung due by ``at`` (default now), once each, in order."""
        self._ready()
        self.flows()
        from irflow.engine import escalation

        return escalation.sweep(self, self.now(at), limit=limit)

    def next_deadline(self) -> datetime | None:
        """When the next unfired rung falls due, if any."""
        from sqlalchemy import func
        from sqlmodel import Session, col, select

        from irflow.engine.tables import DeadlineRow

        self._ready()
        with Session(self.sa) as session:
            found = session.exec(
                select(func.min(DeadlineRow.due_at)).where(col(DeadlineRow.fired_at).is_(None))
            ).first()
        return self.ledger.read_moment(found) if found is not None else None

    # ------------------------------------------------------------------ outbox and site

    @cached_property
    def dispatcher(self) -> Dispatcher:
        from irflow.engine.outbox import Dispatcher

        return Dispatcher(self.sa, self.notifiers, self.organisations())

    def drain(self, at: datetime | None = None, *, limit: int = 200) -> DrainReport:
        """Send the queued notifications that are due; retry or bury the failures."""
        self._ready()
        return self.dispatcher.drain(self.now(at), limit=limit)

    def outbox(self, *, status: str | None = None) -> list[OutboxRow]:
        """The outbox's messages, oldest first (``status``: queued, sent or dead)."""
        from sqlmodel import Session, col, select

        from irflow.engine.tables import OutboxRow

        self._ready()
        query = select(OutboxRow).order_by(col(OutboxRow.created_at), col(OutboxRow.id))
        if status is not None:
            query = query.where(col(OutboxRow.status) == status)
        with Session(self.sa) as session:
            return list(session.exec(query).all())

    def retry(self, message_id: str, at: datetime | None = None) -> OutboxRow:
        """Requeue a dead or failing message, due now."""
        self._ready()
        from irflow.engine.outbox import requeue

        return requeue(self.sa, message_id, self.now(at))

    def posts(self, actor: str) -> list[SitePostRow]:
        """The site posts ``actor`` may read: its own, those naming it, notices to all."""
        from sqlmodel import Session, col, select

        from irflow.engine.tables import SitePostRow

        org = self.organisation(actor)
        with Session(self.sa) as session:
            rows = session.exec(select(SitePostRow).order_by(col(SitePostRow.posted_at))).all()
        return [
            p
            for p in rows
            if p.poster_id == org.id or org.id in json.loads(p.named) or p.named == "[]"
        ]

    def overdue_cases(self) -> set[int]:
        """Cases with an open step at least one of whose rungs has fired."""
        from sqlmodel import Session, col, select

        from irflow.engine.tables import DeadlineRow

        self._ready()
        with Session(self.sa) as session:
            found = session.exec(
                select(DeadlineRow.case_id).where(col(DeadlineRow.fired_at).is_not(None)).distinct()
            ).all()
        return set(found)

    def deadlines(self, case_id: int) -> list[DeadlineView]:
        """The rungs of a case's open steps, fired or not, in order."""
        self._ready()
        moment = self.ledger.read_moment
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
            for step, rung, action, opened, deadline, due, fired in self.ledger.read(
                "deadlines", case_id
            )
        ]

    def report(
        self,
        case_id: int,
        *,
        part: forms.Part = "occurrence",
        format: forms.Format = "md",
        contact_person: str | None = None,
    ) -> str:
        """The form 事象発生報告書兼完了報告書 of a case (occurrence or completion part)."""
        from irflow.engine import forms, reports

        if part not in ("occurrence", "completion"):
            raise InvalidInput(f"part {part!r} is unknown; use occurrence or completion")
        if format not in ("md", "html"):
            raise InvalidInput(f"format {format!r} is unknown; use md or html")
        view = self.case(case_id)
        flow = self.flow_version(view.flow, view.flow_version)
        names = {o.id: o.name for o in self.organisations().values()}
        context = reports.incident_report_context(
            view, flow, names, part=part, contact_person=contact_person
        )
        return forms.render_incident_report(context, format=format)

    # ------------------------------------------------------------------ contact routing

    @cached_property
    def routing(self) -> tuple[RoutingRules, AdminCalendar]:
        """The bundled routing rules and their administrative calendar."""
        from irflow.engine.routing import bundled_routing

        rules = bundled_routing()
        return rules, rules.calendar()

    @property
    def calendar(self) -> AdminCalendar:
        return self.routing[1]

    @cached_property
    def notices(self) -> Notices:
        """Builds the outbox rows of notifications, for the site and every notifier."""
        channels = [SITE, *(n.name for n in self.notifiers)]
        return Notices(channels, self.organisations(), self.routing[0].categories)

    def route(
        self, sender: str, recipient: str, situation: str, at: datetime | None = None
    ) -> ContactPlan:
        """How ``sender`` reaches ``recipient`` (or ``"operator"``) about ``situation`` now."""
        from irflow.engine.routing import plan_contact

        rules, calendar = self.routing
        if situation not in ("incident", "normal"):
            raise InvalidInput(f"situation {situation!r} is unknown; use incident or normal")
        src = self.organisation(sender)
        dst = self.operator() if recipient.strip() == "operator" else self.organisation(recipient)
        return plan_contact(rules, calendar, src, dst, situation, self.now(at))

    @_rerun_on_race
    def contacts(
        self, case_id: int, *, actor: str, at: datetime | None = None
    ) -> list[CaseContact]:
        """The contact plans the actor's open steps call for; recorded on the timeline.

        Each open step of the actor's tier that reports to someone (``reports_to`` in
        the flow file) gives one plan per recipient. The plans shown are appended to
        the case's timeline as a ``contacts_shown`` event, so the record says what the
        person was told to do and when.
        """
        from irflow.engine.routing import plan_contact

        moment = self.now(at)
        rules, calendar = self.routing
        with self.ledger.connection() as conn:
            case = self._load(conn, case_id)
            flow = self.flow_version(case.flow, case.flow_version)
            org = self._actor(case, actor)
            roles = self._roles(case, org)
            self._check_moment(case, moment)
            facts = CaseFacts(
                kinds=_split(case.kinds), flags=_split(case.flags), done=json.loads(case.steps_done)
            )
            participants = {
                "reporter": case.reporter_id,
                "coordinator": case.coordinator_id,
                "operator": case.operator_id,
            }
            found: list[CaseContact] = []
            for step in flow.steps.values():
                if step.tier not in roles or not step.reports_to:
                    continue
                if not flow.present(step, facts) or flow.status(step, case.state, facts) != "open":
                    continue
                for target in step.reports_to:
                    to_id = target[4:] if target.startswith("org:") else participants[target]
                    recipient = self.organisation(to_id)
                    plan = plan_contact(
                        rules, calendar, org, recipient, flow.spec.situation, moment
                    )
                    found.append(CaseContact(step=step.id, recipient=recipient, plan=plan))
            if not found:
                return found
            payload = {"plans": [c.as_json() for c in found]}
            expected = case.version
            if (
                self._append(
                    conn, case, at=moment, actor=org.id, action="contacts_shown", payload=payload
                )
                is None
            ):
                raise self._conflict(case_id, expected)
        self.log.info("contacts.shown", case_id=case_id, actor=org.id, plans=len(found))
        return found

    # ------------------------------------------------------------------ queries

    def timeline(self, case_id: int) -> list[Event]:
        self._ready()
        with self.ledger.connection() as conn:
            return self._events_in(conn, case_id)

    def _case_row(self, case_id: int) -> StoredCase:
        self._ready()
        rows = self.ledger.read("case", case_id)
        if not rows:
            raise NotFound(f"no case {case_id}; `irflow case list` shows the cases")
        *columns, opened, closed = rows[0]
        moment = self.ledger.read_moment
        return StoredCase(
            *columns,
            opened_at=moment(opened),
            closed_at=moment(closed) if closed is not None else None,
        )

    def case(self, case_id: int, *, viewer: str | None = None) -> CaseView:
        """Everything about one case: participants, every step's status, the timeline.

        A case of a private flow (the inquiry) is shown only to a ``viewer`` in its
        chain; to anyone else it does not exist."""
        row = self._case_row(case_id)
        if not self.visible(row, viewer):
            raise _no_case(case_id)
        flow = self.flow_version(row.flow, row.flow_version)
        done = json.loads(row.steps_done)
        facts = CaseFacts(kinds=_split(row.kinds), flags=_split(row.flags), done=done)
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
        return CaseView(
            id=row.id or case_id,
            flow=row.flow,
            flow_version=row.flow_version,
            title=row.title,
            state=row.state,
            version=row.version,
            kinds=sorted(facts.kinds),
            flags=sorted(facts.flags),
            reporter=self.organisation_by_id(row.reporter_id),
            coordinator=self.organisation_by_id(row.coordinator_id),
            operator=self.organisation_by_id(row.operator_id),
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            steps=steps,
            timeline=self.timeline(case_id),
            deadlines=self.deadlines(case_id),
            chain=[self.organisation_by_id(o) for o in chain_rules.links(row.chain)],
            holder=self.organisation_by_id(chain_rules.links(row.chain)[row.chain_at])
            if row.chain
            else None,
            actions=[a.id for a in flow.actions.values() if row.state in a.sources],
        )

    def cases(
        self,
        *,
        state: str | None = None,
        overdue: bool = False,
        flow: str | None = None,
        viewer: str | None = None,
    ) -> list[CaseSummary]:
        """The cases ``viewer`` may see, oldest first; only those in ``state``, of
        ``flow``, or ``overdue`` ones, if asked. Without a viewer, the cases of public
        flows; with one, also the private ones whose chain it is in."""
        from sqlmodel import Session, col, select

        from irflow.engine.tables import CaseRow

        self._ready()
        stored = {
            (name, version): self.flow_version(name, version)
            for name, version, *_ in self.ledger.read("flow_sources")
        }
        query = select(CaseRow).order_by(col(CaseRow.id))
        if state is not None:
            self._check_state_filter(state, flow, list(stored.values()))
            query = query.where(col(CaseRow.state) == state)
        if flow is not None:
            query = query.where(col(CaseRow.flow) == flow)
        private = {key for key, f in stored.items() if f.private}
        me = self.organisation(viewer).id if viewer is not None else None
        late = self.overdue_cases()
        with Session(self.sa) as session:
            rows = list(session.exec(query).all())
        return [
            CaseSummary(
                id=r.id,
                flow=r.flow,
                state=r.state,
                version=r.version,
                title=r.title,
                reporter=self.organisation_by_id(r.reporter_id),
                coordinator=self.organisation_by_id(r.coordinator_id),
                overdue=r.id in late,
                holder=self.organisation_by_id(chain_rules.links(r.chain)[r.chain_at])
                if r.chain
                else None,
            )
            for r in rows
            if (not overdue or r.id in late)
            and ((r.flow, r.flow_version) not in private or me in _participant_ids(r))
        ]

    def _check_state_filter(self, state: str, flow: str | None, stored: list[Flow]) -> None:
        """Refuse a state no case (of ``flow``) can be in, naming those it can. The
        current flows are parsed only to word the refusal: the stored ones (every flow
        a case was opened under) answer the usual question."""
        flows = [f for f in stored if flow in (None, f.name)]
        if any(state in f.states for f in flows):
            return
        current = self._given_flows or [bundled_flow(n) for n in BUNDLED]
        known = sorted({s for f in [*flows, *current] if flow in (None, f.name) for s in f.states})
        if state not in known:
            raise InvalidInput(
                f"no case can be in state {state!r}; the states are {', '.join(known)}"
            )

    def verify(self, case_id: int | None = None) -> list[ChainReport]:
        """Recompute the hash chain of one case, or of every case."""
        self._ready()
        ids = [case_id] if case_id is not None else [r[0] for r in self.ledger.read("case_ids")]
        reports = []
        for cid in ids:
            row = self._case_row(cid)
            reports.append(
                check_chain(cid, self.timeline(cid), last_seq=row.last_seq, last_hash=row.last_hash)
            )
        return reports

    def replay(self, case_id: int) -> str:
        """The state a case's timeline leads to, replayed through the flow's machine."""
        events = self.timeline(case_id)
        if not events or events[0].action != "opened":
            raise InvalidInput(f"case {case_id}'s timeline does not start with 'opened'")
        opened = events[0].payload
        flow = self.flow_version(str(opened["flow"]), int(opened["flow_version"]))
        facts = CaseFacts(kinds=frozenset(opened["kinds"]), flags=frozenset(), done={})
        model = CaseModel(flow.states[0], facts)
        if flow.stateful:
            # The chain as each action left it, and the state the machine takes it to.
            chain, orgs = list(opened.get("chain", ())), self.organisations()
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


def _participant_ids(case: CaseRecord | CaseRow) -> list[str]:
    """Who takes part in a case: its chain's links, or its three roles."""
    return chain_rules.links(case.chain) or [
        case.reporter_id,
        case.coordinator_id,
        case.operator_id,
    ]


def _no_case(case_id: int) -> NotFound:
    # The same words whether the case does not exist or the asker may not see it.
    return NotFound(f"no case {case_id}; `irflow case list` shows the cases")


def _clean_text(field: str, text: str | None) -> str | None:
    """Refuse text no backend stores alike (PostgreSQL rejects NUL, SQLite keeps it)."""
    if text is not None and "\x00" in text:
        raise InvalidInput(f"{field} contains a NUL character; remove it")
    return text


@lru_cache(maxsize=512)
def _split(text: str) -> frozenset[str]:
    """A comma-separated column (kinds, flags) as a set; remembered, since a case has
    few distinct values and a step asks for them three times."""
    return frozenset(text.split(",")).difference(("",))


class _StepsDone:
    """The ``steps_done`` column's JSON, remembered for the last texts this engine wrote:
    a command on a case decodes what the one before it encoded. Exact both ways (a
    text is the encoding of one dict); a text written elsewhere is decoded as ever.
    Decoding and re-encoding the whole column cost 13 µs a step of bench/advance.py's
    run; remembered, 2."""

    def __init__(self) -> None:
        self._dicts: dict[str, dict[str, Any]] = {}

    def load(self, text: str) -> dict[str, Any]:
        known = self._dicts.get(text)
        if known is not None:
            return dict(known)
        decoded: dict[str, Any] = json.loads(text)
        return decoded

    def dump(self, text: str, done: dict[str, Any], step: str) -> str:
        """``COMPACT.encode(done)``, where ``done`` is ``load(text)`` with ``step`` added."""
        before = self._dicts.get(text)
        if before is not None and step not in before:
            # ``text`` is COMPACT's encoding of ``before``, and the new step comes last.
            entry = f"{encode_basestring(step)}:{COMPACT.encode(done[step])}}}"
            encoded = text[:-1] + ("," + entry if before else entry)
        else:
            encoded = COMPACT.encode(done)
        if len(self._dicts) >= 256:
            self._dicts.clear()
        self._dicts[encoded] = dict(done)
        return encoded


@dataclass(slots=True, kw_only=True)
class StoredCase(CaseRecord):
    """A case row as `case show` reads it: the hot path's columns and its two moments."""

    opened_at: datetime
    closed_at: datetime | None


def _org_row(org: Organisation) -> OrganisationRow:
    from irflow.engine.tables import OrganisationRow

    return OrganisationRow.model_validate(org.as_dict())


def _org_from_tuple(row: tuple[Any, ...]) -> Organisation:
    (org_id, name, type_, tier, prefecture, code, ministry, daytime, emergency, mail,
     note) = row  # fmt: skip
    return Organisation(
        id=org_id,
        name=name,
        type=OrgType(type_),
        tier=Tier(tier),
        prefecture=prefecture,
        code=code,
        competent_ministry=ministry,
        daytime_phone=daytime,
        emergency_phone=emergency,
        mail=mail,
        note=note,
    )


def _event_from_record(rec: EventRecord, payload: dict[str, Any] | None = None) -> Event:
    """An immutable ``Event`` from an event record, read or just written (then its
    ``payload`` is at hand and need not be parsed back)."""
    return Event(
        case_id=rec.case_id,
        seq=rec.seq,
        at=rec.at,
        actor=rec.actor_id,
        action=rec.action,
        step=rec.step,
        from_state=rec.from_state,
        to_state=rec.to_state,
        note=rec.note,
        payload=json.loads(rec.payload) if payload is None else payload,
        prev_hash=rec.prev_hash,
        hash=rec.hash,
    )
