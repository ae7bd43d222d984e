"""irflow: incident-response workflows for the My Number information provision network.

The public API is what ``__all__`` lists; everything else is private and may change.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from irflow.clock import Clock, FixedClock, SystemClock, parse_moment
    from irflow.engine.directory import Organisation, OrgType, Tier
    from irflow.engine.facade import Engine, InitReport
    from irflow.engine.flow import Flow, load_flow_file, parse_flow
    from irflow.engine.recorder import Advanced
    from irflow.engine.timeline import ChainReport, Event
    from irflow.engine.views import CaseSummary, CaseView, StepView
    from irflow.errors import (
        AmbiguousName,
        Conflict,
        InvalidFlow,
        InvalidInput,
        IrflowError,
        NotAllowed,
        NotFound,
        NotInitialised,
        StepNotOpen,
        StorageError,
    )

# Names load on first use, so that `irflow --help` does not import the database stack.
_WHERE = {
    "Advanced": "irflow.engine.recorder",
    "AmbiguousName": "irflow.errors",
    "CaseSummary": "irflow.engine.views",
    "CaseView": "irflow.engine.views",
    "ChainReport": "irflow.engine.timeline",
    "Clock": "irflow.clock",
    "Conflict": "irflow.errors",
    "Engine": "irflow.engine.facade",
    "Event": "irflow.engine.timeline",
    "FixedClock": "irflow.clock",
    "Flow": "irflow.engine.flow",
    "InitReport": "irflow.engine.facade",
    "InvalidFlow": "irflow.errors",
    "InvalidInput": "irflow.errors",
    "IrflowError": "irflow.errors",
    "NotAllowed": "irflow.errors",
    "NotFound": "irflow.errors",
    "NotInitialised": "irflow.errors",
    "OrgType": "irflow.engine.directory",
    "Organisation": "irflow.engine.directory",
    "StepNotOpen": "irflow.errors",
    "StepView": "irflow.engine.views",
    "StorageError": "irflow.errors",
    "SystemClock": "irflow.clock",
    "Tier": "irflow.engine.directory",
    "load_flow_file": "irflow.engine.flow",
    "parse_flow": "irflow.engine.flow",
    "parse_moment": "irflow.clock",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'irflow' has no attribute {name!r}")


__all__ = [
    "Advanced",
    "AmbiguousName",
    "CaseSummary",
    "CaseView",
    "ChainReport",
    "Clock",
    "Conflict",
    "Engine",
    "Event",
    "FixedClock",
    "Flow",
    "InitReport",
    "InvalidFlow",
    "InvalidInput",
    "IrflowError",
    "NotAllowed",
    "NotFound",
    "NotInitialised",
    "OrgType",
    "Organisation",
    "StepNotOpen",
    "StepView",
    "StorageError",
    "SystemClock",
    "Tier",
    "load_flow_file",
    "parse_flow",
    "parse_moment",
]
