"""What completing a step does to a case, worked out once: one cache for the commands
and the audit.

Completing a step of a flow of phases settles the case in a state and opens and
closes steps for escalation. The machine, ``settle`` and the status comparisons look
only at the case's kinds, flags and which steps are done, never at by whom or when:
so each outcome is worked out once per flow version and shape of case (17 µs a step
of bench/advance.py's run; 0.7 µs remembered), and ``advance`` and the audit's replay
ask the same ``Completions`` (the context holds one).
"""

from __future__ import annotations

from typing import Any

from irflow.engine.effects import escalation_changes
from irflow.engine.flow import CaseFacts, CaseModel, Flow

Completion = tuple[str, tuple[str, ...], tuple[str, ...]]
"""What completing a step does: the state settled in, the steps opened and closed."""

BOUND = 4096
"""Outcomes remembered before the cache starts again: far above a flow's usual shapes."""


class Completions:
    """The outcomes of completing steps, remembered by every fact the machine sees."""

    def __init__(self) -> None:
        self._known: dict[tuple[Any, ...], Completion] = {}

    def complete(
        self, flow: Flow, step: str, prior: tuple[str, CaseFacts], facts: CaseFacts
    ) -> Completion:
        """What completing ``step`` (in ``facts.done`` already) does to a case that was
        ``prior``: the state it settles in, the steps it opened and closed for escalation.

        ``facts.done`` is ``prior``'s with ``step`` added, so the key names it once;
        ``facts.flags`` holds any flag declared with the step. Nothing given is changed.
        """
        state, before = prior
        done = frozenset(before.done)
        key = (flow, step, state, before.kinds, before.flags, done, facts.kinds, facts.flags)
        known = self._known.get(key)
        if known is None:
            model = CaseModel(state, facts)
            flow.machine.events[f"do_{step}"].trigger(model)
            flow.settle(model)
            opened, closed = escalation_changes(flow, step, prior, (model.state, facts))
            if len(self._known) >= BOUND:
                self._known.clear()
            known = self._known[key] = (model.state, tuple(opened), tuple(closed))
        return known
