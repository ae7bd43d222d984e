"""irflow: incident-response workflows for the My Number information provision network.

The public API is what ``__all__`` lists; everything else is private and may change.
"""

from irflow.clock import Clock, FixedClock, SystemClock, parse_moment
from irflow.engine.core import Advanced, Engine, InitReport
from irflow.engine.directory import Organisation, OrgType, Tier
from irflow.engine.flow import Flow, load_flow_file, parse_flow
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
