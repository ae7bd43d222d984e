"""Flow files: schema, graph checks, and compilation into one shared state machine.

A flow file (``irflow/flows/*.yaml``) declares phases, each with its steps. The
case's state is the phase it is in; a phase closes when every step of it that is
required for the case is done, and the last phase closing closes the case. Steps
wait for the steps they ``requires``; a step may open only once its phase is the
case's current phase, unless it is ``early`` (it opens as soon as what it waits for
is done, and its phase only says which phase cannot close without it).

Conditions are named guards (``kind:<kind>``, ``flag:<flag>``) evaluated on the
case's facts; ``only_if`` decides whether a step is part of a case at all,
``required_if`` whether an optional step becomes required.

A validated flow compiles into ONE ``transitions`` machine shared by every case of
that flow version: cases are rows, and the engine drives the machine statically with
a small adapter object, never with ``add_model``.

The package, one job a module: ``schema`` (what a flow file may say), ``checks`` (the
graph checks when it loads), ``facts`` (what conditions look at), ``parts`` (steps,
actions, duties, rungs), ``compiled`` (the ``Flow`` and its machine), ``loading``
(text, files, bundled flows) and ``drawing`` (the mermaid chart). This module
re-exports the names the rest of irflow uses.
"""

from irflow.engine.flow.compiled import Flow, FlowKind
from irflow.engine.flow.drawing import mermaid
from irflow.engine.flow.facts import CaseFacts, CaseModel
from irflow.engine.flow.loading import BUNDLED, bundled_flow, load_flow_file, parse_flow
from irflow.engine.flow.parts import Action, Duty, Step
from irflow.engine.flow.schema import CLOSED, TIERS

__all__ = [
    "BUNDLED",
    "CLOSED",
    "TIERS",
    "Action",
    "CaseFacts",
    "CaseModel",
    "Duty",
    "Flow",
    "FlowKind",
    "Step",
    "bundled_flow",
    "load_flow_file",
    "mermaid",
    "parse_flow",
]
