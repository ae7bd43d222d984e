"""The flow registry: which flows new cases take, and every stored version.

A flow's text is stored with a version number the first time the engine sees it;
a changed text is a new version, and a case runs under the version it was opened
with, parsed from the text stored beside it (so showing a case parses one flow).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from irflow.clock import Clock
from irflow.engine.directory import Directory
from irflow.engine.flow import BUNDLED, Flow, bundled_flow, parse_flow
from irflow.engine.ledger import Ledger
from irflow.errors import FlowNotLoaded, InvalidFlow, InvalidInput, NotFound

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as SAEngine


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


class FlowRegistry:
    """The current flows (bundled, or given to the engine) and every stored version."""

    def __init__(
        self,
        ledger: Ledger,
        sa: SAEngine,
        *,
        clock: Clock,
        directory: Directory,
        categories: Callable[[], Mapping[str, str]],
        given: Sequence[Flow] | None,
        ready: Callable[[], None],
    ) -> None:
        self._ledger = ledger
        self._sa = sa
        self._clock = clock
        self._directory = directory
        self._categories = categories
        self._given = list(given) if given is not None else None
        self._ready = ready
        self._current: dict[str, tuple[Flow, int]] | None = None
        self._versions: dict[tuple[str, int], Flow] = {}

    def current(self) -> dict[str, tuple[Flow, int]]:
        """The current flows by name, each with its version number."""
        if self._current is None:
            self._ready()
            self._current = {}
            for flow in self._candidates():
                self._check_references(flow)
                version = self._register(flow)
                self._current[flow.name] = (flow, version)
                self._versions[(flow.name, version)] = flow
        return self._current

    def _candidates(self) -> list[Flow]:
        return self._given if self._given is not None else [bundled_flow(n) for n in BUNDLED]

    def version(self, name: str, version: int) -> Flow:
        """The flow a case runs under, parsed from the text stored with its version."""
        key = (name, version)
        if key not in self._versions:
            rows = self._ledger.read("flow_source", name, version)
            if not rows:
                raise NotFound(f"no flow {name!r} version {version} in this database")
            self._versions[key] = parse_flow(rows[0][0], path=f"{name} v{version}")
        return self._versions[key]

    def loaded(self, name: str, version: int) -> Flow:
        """The flow version, if parsed already; else ``FlowNotLoaded``, so that a
        command does not parse YAML while it holds its write transaction."""
        flow = self._versions.get((name, version))
        if flow is None:
            raise FlowNotLoaded(name, version)
        return flow

    def stored(self) -> dict[tuple[str, int], Flow]:
        """Every flow version in the database (every flow a case was opened under)."""
        return {
            (name, int(version)): self.version(name, int(version))
            for name, version, *_ in self._ledger.read("flow_sources")
        }

    def versions(self) -> list[FlowVersionInfo]:
        """Every version of every flow in the database, with how many cases (or
        inquiries) not closed run under it; new cases take each flow's current one."""
        current = {name: version for name, (_, version) in self.current().items()}
        open_items = {(n, int(v)): int(c) for n, v, c in self._ledger.read("open_by_version")}
        return [
            FlowVersionInfo(
                flow=flow,
                version=version,
                current=current.get(name) == version,
                open=open_items.get((name, version), 0),
            )
            for (name, version), flow in self.stored().items()
        ]

    def for_kinds(self, kinds: Iterable[str]) -> tuple[Flow, int, frozenset[str]]:
        """Pick the flow for a case's kinds: the one a kind selects, else the default."""
        current = self.current()
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

    def check_state(self, state: str, flow: str | None, stored: Iterable[Flow]) -> None:
        """Refuse a state no case (of ``flow``) can be in, naming those it can. The
        current flows are parsed only to word the refusal: the stored ones (every flow
        a case was opened under) answer the usual question."""
        flows = [f for f in stored if flow in (None, f.name)]
        if any(state in f.states for f in flows):
            return
        known = sorted(
            {s for f in [*flows, *self._candidates()] if flow in (None, f.name) for s in f.states}
        )
        if state not in known:
            raise InvalidInput(
                f"no case can be in state {state!r}; the states are {', '.join(known)}"
            )

    def _check_references(self, flow: Flow) -> None:
        """What a flow names outside itself exists: site categories, organisations."""
        categories = self._categories()
        named = [("report_category", flow.spec.report_category)]
        named += [(f"step {s.id}: announce", s.announce) for s in flow.steps.values()]
        for where, key in named:
            if key is not None and key not in categories:
                raise InvalidFlow(
                    f"{where} names site category {key!r}, which routing.yaml does not "
                    f"declare; use one of {', '.join(categories)}",
                    path=flow.path,
                )
        orgs = self._directory.organisations()
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

        with Session(self._sa) as session:
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
                    registered_at=self._clock.now(),
                )
            )
            try:
                session.commit()
            except IntegrityError:
                # Another process registered a new version at the same moment: ask again.
                session.rollback()
                return self._register(flow)
            return version
