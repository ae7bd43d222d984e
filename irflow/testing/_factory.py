"""``flow_state_machine``: the property machine for any flow, picked by its shape."""

from __future__ import annotations

from typing import cast

from irflow.engine.flow import Flow
from irflow.testing._machine import FlowMachine
from irflow.testing._phases import PhaseFlowMachine
from irflow.testing._states import StateFlowMachine


def flow_state_machine(
    flow: Flow, url: str | None = None, *, max_cases: int = 3
) -> type[FlowMachine]:
    """A hypothesis state machine that property-tests ``flow`` on the database at ``url``.

    A flow of phases gets a ``PhaseFlowMachine``, a flow of states a
    ``StateFlowMachine``. ``url`` None means a SQLite file in a temporary folder.
    Run the result with ``run_state_machine_as_test(machine, settings=...)`` or
    collect its ``.TestCase`` with pytest; call ``machine.close()`` when done with
    the database.
    """
    name = "".join(part.title() for part in flow.name.replace("-", "_").split("_"))
    base: type[FlowMachine] = StateFlowMachine if flow.stateful else PhaseFlowMachine
    machine = type(
        f"{name}FlowMachine",
        (base,),
        {"flow": flow, "url": url, "max_cases": max_cases, "_shared": None},
    )
    return cast(type[FlowMachine], machine)
