"""What every command room shares: the context, the recorder, and the case's reading."""

from __future__ import annotations

from typing import Any

from irflow.engine.context import Context
from irflow.engine.flow import Flow
from irflow.engine.ledger import CaseRecord
from irflow.engine.recorder import Recorder
from irflow.engine.registry import FlowRegistry
from irflow.engine.rules import no_case


class CommandRoom:
    """A room of commands over the shared context and recorder."""

    def __init__(self, ctx: Context, recorder: Recorder) -> None:
        self.ctx = ctx
        self.recorder = recorder

    @property
    def registry(self) -> FlowRegistry:
        return self.ctx.registry

    @property
    def log(self) -> Any:
        return self.ctx.log

    def load(self, conn: Any, case_id: int) -> tuple[CaseRecord, Flow]:
        """The case, read in the command's transaction, and its flow (already parsed:
        see ``FlowRegistry.loaded``)."""
        case = self.ctx.ledger.load(conn, case_id)
        if case is None:
            self.ctx.ready()
            raise no_case(case_id)
        return case, self.ctx.registry.loaded(case.flow, case.flow_version)

    def warm(self) -> None:
        """Load what a command reads besides its case (the directory, the calendar)
        before its transaction opens, so the transaction holds no file parsing."""
        self.ctx.directory.organisations()
        _ = self.ctx.calendar
