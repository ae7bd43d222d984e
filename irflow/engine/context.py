"""What every room of the engine shares: storage, time, the directory, the flows,
and the routing data, loaded once and when first needed.

The facade (``irflow.engine.facade.Engine``) builds one ``Context``; the rooms
(commands, queries, audit, escalation) each hold it and nothing of one another.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from irflow.clock import Clock, as_aware
from irflow.engine import database
from irflow.engine.calendar import AdminCalendar
from irflow.engine.completions import Completions
from irflow.engine.directory import Directory
from irflow.engine.effects import SITE, Notices
from irflow.engine.flow import Flow
from irflow.engine.ledger import Ledger
from irflow.engine.registry import FlowRegistry
from irflow.engine.timeline import audit_key
from irflow.notifiers.base import Notifier

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as SAEngine

    from irflow.engine.routing import RoutingRules


class Context:
    """The engine's shared state; routing, calendar and notices load on first use, so
    that ``irflow case show`` reads no routing file."""

    def __init__(
        self,
        sa: SAEngine,
        *,
        clock: Clock,
        flows: Sequence[Flow] | None,
        notifiers: Sequence[Notifier],
    ) -> None:
        self.sa = sa
        self.clock = clock
        self.ledger = Ledger(sa)
        self.notifiers = list(notifiers)
        self.audit_key = audit_key()
        """``$IRFLOW_AUDIT_KEY`` as the engine found it at start: seals events, checks seals."""
        self._schema_checked = False
        self.completions = Completions()
        """What completing a step does, remembered for the commands and the audit alike."""
        self.directory = Directory(self.ledger, sa, ready=self.ready)
        self.registry = FlowRegistry(
            self.ledger,
            sa,
            clock=clock,
            directory=self.directory,
            categories=lambda: self.routing.categories,
            given=flows,
            ready=self.ready,
        )

    def ready(self) -> None:
        """Check once that the database has irflow's schema (else ``NotInitialised``)."""
        if not self._schema_checked:
            database.require_schema(self.sa)
            self._schema_checked = True

    def migrated(self) -> None:
        """``init`` made the schema: no need to check it again."""
        self._schema_checked = True

    def now(self, at: datetime | None) -> datetime:
        return as_aware(at) if at is not None else self.clock.now()

    @cached_property
    def log(self) -> Any:
        """The engine's structlog logger; imported on first use, so reads don't pay for it."""
        import structlog

        if not structlog.is_configured():
            from irflow.logs import configure

            configure(stdlib=False)  # quiet and masked, never structlog's stdout default
        return structlog.get_logger("irflow")

    @cached_property
    def routing(self) -> RoutingRules:
        """The bundled routing rules (imported on first use: reads need none)."""
        from irflow.engine.routing import bundled_routing

        return bundled_routing()

    @cached_property
    def calendar(self) -> AdminCalendar:
        return self.routing.calendar()

    @cached_property
    def notices(self) -> Notices:
        """Builds the outbox rows of notifications, for the site and every notifier."""
        channels = [SITE, *(n.name for n in self.notifiers)]
        return Notices(channels, self.directory.organisations(), self.routing.categories)

    def close(self) -> None:
        self.ledger.close()
        self.sa.dispose()
