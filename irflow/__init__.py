"""irflow: incident-response workflows for the My Number information provision network.

The public API is what ``__all__`` lists; everything else is private and may change.
"""

# No ``from __future__ import annotations`` and no bare ``TYPE_CHECKING`` here: each
# would be a public-looking name in ``vars(irflow)`` (tests/test_exported_members.py).
import typing as _typing

from irflow._exports import lazy_exports as _lazy_exports

# The errors cost nothing to import (and `irflow --help` imports them anyway).
from irflow.errors import (
    AmbiguousName,
    Conflict,
    DeliveryFailed,
    InvalidFlow,
    InvalidInput,
    IrflowError,
    NoSuchCase,
    NotAllowed,
    NotFound,
    NotInitialised,
    StepNotOpen,
    StorageError,
    TemplateFieldError,
    Unauthenticated,
)

if _typing.TYPE_CHECKING:
    from irflow.clock import Clock, FixedClock, SystemClock, parse_moment
    from irflow.engine.directory import Organisation, OrgType, Tier
    from irflow.engine.facade import Engine, InitReport
    from irflow.engine.flow import Flow, load_flow_file, parse_flow
    from irflow.engine.recorder import Advanced
    from irflow.engine.rules import SYSTEM, SystemViewer
    from irflow.engine.timeline import ChainReport, Event
    from irflow.engine.views import CaseSummary, CaseView, StepView
else:
    # Names load on first use, so that `irflow --help` does not import the database
    # stack. When a name moves, change its line here and in the imports above.
    __getattr__, __dir__ = _lazy_exports(
        __name__,
        {
            "irflow.clock": ["Clock", "FixedClock", "SystemClock", "parse_moment"],
            "irflow.engine.directory": ["Organisation", "OrgType", "Tier"],
            "irflow.engine.facade": ["Engine", "InitReport"],
            "irflow.engine.flow": ["Flow", "load_flow_file", "parse_flow"],
            "irflow.engine.recorder": ["Advanced"],
            "irflow.engine.rules": ["SYSTEM", "SystemViewer"],
            "irflow.engine.timeline": ["ChainReport", "Event"],
            "irflow.engine.views": ["CaseSummary", "CaseView", "StepView"],
        },
    )

__all__ = [
    "SYSTEM",
    "Advanced",
    "AmbiguousName",
    "CaseSummary",
    "CaseView",
    "ChainReport",
    "Clock",
    "Conflict",
    "DeliveryFailed",
    "Engine",
    "Event",
    "FixedClock",
    "Flow",
    "InitReport",
    "InvalidFlow",
    "InvalidInput",
    "IrflowError",
    "NoSuchCase",
    "NotAllowed",
    "NotFound",
    "NotInitialised",
    "OrgType",
    "Organisation",
    "StepNotOpen",
    "StepView",
    "StorageError",
    "SystemClock",
    "SystemViewer",
    "TemplateFieldError",
    "Tier",
    "Unauthenticated",
    "load_flow_file",
    "parse_flow",
    "parse_moment",
]
