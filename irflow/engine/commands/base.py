"""What every command room shares: the context, the recorder, the case's reading, and
the view of the case a command returns when asked."""

from __future__ import annotations

from typing import Any

from irflow.engine import rules
from irflow.engine.context import Context
from irflow.engine.directory import Organisation
from irflow.engine.flow import Flow
from irflow.engine.ledger import CaseRecord
from irflow.engine.queries import view_in
from irflow.engine.recorder import Recorder
from irflow.engine.registry import FlowRegistry
from irflow.engine.rules import no_case
from irflow.engine.views import CaseView


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

    def acting(self, ref: str) -> Organisation:
        """The acting organisation, found before the transaction opens (so a made-up
        name is refused alike for every case number), with what a command reads
        besides its case (the directory, the calendar) loaded: the transaction then
        holds no file parsing."""
        org = self.ctx.directory.find(ref)
        _ = self.ctx.calendar
        return org

    def load(
        self, conn: Any, case_id: int, org: Organisation
    ) -> tuple[CaseRecord, Flow, list[str]]:
        """The case, read in the command's transaction, its flow (already parsed: see
        ``FlowRegistry.loaded``), and the roles ``org`` holds in it. The gate comes
        first: an outsider is told what a number never used tells, before any rule."""
        case = self.ctx.ledger.load(conn, case_id)
        if case is None:
            self.ctx.ready()
            raise no_case(case_id)
        held = rules.roles(case, org)
        return case, self.ctx.registry.loaded(case.flow, case.flow_version), held


class Shown:
    """The case as the acting organisation sees it once the command's writes are done,
    read in the command's own transaction (the ledger calls it before the commit), so
    that a face need not read the case again to show it."""

    __slots__ = ("ctx", "flow", "view", "viewer")

    def __init__(self, ctx: Context, flow: Flow, viewer: Organisation) -> None:
        self.ctx = ctx
        self.flow = flow
        self.viewer = viewer.id
        self.view: CaseView | None = None

    def __call__(self, conn: Any, case_id: int) -> None:
        self.view = view_in(self.ctx, conn, case_id, self.flow, self.viewer)
