"""A validated flow compiled: its parts, its case questions, and its one state machine.

A flow compiles into ONE ``transitions`` machine shared by every case of that flow
version: cases are rows, and the engine drives the machine statically with a small
adapter object (``CaseModel``), never with ``add_model``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cached_property
from typing import Any, Literal

from irflow.engine.durations import parse_duration
from irflow.engine.flow.facts import CaseFacts, CaseModel, Guard, compile_guard
from irflow.engine.flow.parts import Action, Duty, Rung, Step
from irflow.engine.flow.schema import CLOSED, FlowSpec, StepSpec, TargetSpec
from irflow.engine.phrases import PhraseBook

_WORDING = PhraseBook("flow", {"closed": ()})


FlowKind = Literal["phases", "states"]
"""The two kinds of flow: of phases and steps (the incident), of states and actions
(the inquiry)."""


class Flow:
    """A validated flow: its steps, its rules and its shared state machine."""

    def __init__(self, spec: FlowSpec, *, source: str, path: str) -> None:
        self.spec = spec
        self.source = source
        self.path = path
        self.name = spec.name
        self.title = spec.title
        self.digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
        #: A flow of states and actions (the inquiry), not of phases and steps.
        self.stateful = bool(spec.states)
        self.is_chain = spec.chain is not None
        self.states: tuple[str, ...] = (
            *(p.id for p in spec.phases),
            *(s.id for s in spec.states),
            CLOSED,
        )
        self.phase_index = {p.id: i for i, p in enumerate(spec.phases)}
        self.phase_index[CLOSED] = len(spec.phases)
        self.state_titles = {
            **{p.id: p.title for p in spec.phases},
            **{s.id: s.title for s in spec.states},
            CLOSED: _WORDING["closed"],
        }
        self.actions: dict[str, Action] = {
            a.id: Action(
                id=a.id,
                title=a.title,
                by=a.by,
                sources=a.sources,
                targets=tuple(
                    (t.state, compile_guard(t.when) if t.when else None)
                    for t in ((TargetSpec(state=a.to),) if isinstance(a.to, str) else a.to)
                ),
                move=a.move,
                only_if=compile_guard(a.only_if) if a.only_if else None,
                only_if_name=a.only_if,
                why_not=a.why_not,
                needs_note=a.needs_note,
                answers=a.answers,
                asks=a.asks,
                notify=a.notify,
                post_box=a.post_box,
            )
            for a in spec.actions
        }
        self.duties: dict[str, Duty] = {
            st.id: Duty(
                state=st.id,
                title=st.duty or st.title,
                deadline=parse_duration(st.deadline),
                ladder=self._rungs(st.ladder),
            )
            for st in spec.states
            if st.deadline
        }
        self.steps: dict[str, Step] = {}
        for index, phase in enumerate(spec.phases):
            for s in phase.steps:
                self.steps[s.id] = Step(
                    id=s.id,
                    tier=s.tier,
                    title=s.title,
                    seed_no=s.seed_no,
                    requires=s.requires,
                    phase=phase.id,
                    phase_index=index,
                    required=s.required,
                    required_if=compile_guard(s.required_if) if s.required_if else None,
                    required_if_name=s.required_if,
                    only_if=compile_guard(s.only_if) if s.only_if else None,
                    only_if_name=s.only_if,
                    early=s.early,
                    reports_to=s.reports_to,
                    announce=s.announce,
                    deadline=parse_duration(s.deadline) if s.deadline else None,
                    ladder=self._ladder(s) if s.deadline else (),
                    why=s.why,
                )
        self.phase_steps: dict[str, tuple[Step, ...]] = {
            p.id: tuple(self.steps[s.id] for s in p.steps) for p in spec.phases
        }
        #: The steps that wait for each step: the only ones its completion can open.
        self.dependents: dict[str, tuple[str, ...]] = {
            sid: tuple(s.id for s in self.steps.values() if sid in s.requires) for sid in self.steps
        }
        #: Steps a declared flag can make required.
        self.conditional: tuple[str, ...] = tuple(
            s.id for s in self.steps.values() if s.required_if is not None
        )

    def _ladder(self, step: StepSpec) -> tuple[Rung, ...]:
        return self._rungs(step.ladder)

    def _rungs(self, ladder: str | None) -> tuple[Rung, ...]:
        name = ladder or self.spec.default_ladder
        rungs = self.spec.ladders.get(name or "", ())
        return tuple(
            Rung(number=i, after=parse_duration(r.after), action=r.action)
            for i, r in enumerate(rungs, start=1)
        )

    # ------------------------------------------------------------ case questions

    def present(self, step: Step, facts: CaseFacts) -> bool:
        """Whether the step is part of a case with these facts at all."""
        return step.only_if is None or step.only_if(facts)

    def is_required(self, step: Step, facts: CaseFacts) -> bool:
        if not self.present(step, facts):
            return False
        return step.required or (step.required_if is not None and step.required_if(facts))

    def waits_for(self, step: Step, facts: CaseFacts) -> list[str]:
        """The steps this step still waits for (absent or optional-undone ones don't count)."""
        pending = []
        for dep_id in step.requires:
            dep = self.steps[dep_id]
            if dep_id in facts.done or not self.is_required(dep, facts):
                continue
            pending.append(dep_id)
        return pending

    def status(self, step: Step, state: str, facts: CaseFacts) -> str:
        """``done``, ``open`` or ``waiting``, for a step present in the case."""
        if step.id in facts.done:
            return "done"
        if state == CLOSED:
            return "waiting"
        if not step.early and step.phase_index > self.phase_index[state]:
            return "waiting"
        return "waiting" if self.waits_for(step, facts) else "open"

    def phase_complete(self, phase: str, facts: CaseFacts) -> bool:
        return all(
            s.id in facts.done for s in self.phase_steps[phase] if self.is_required(s, facts)
        )

    def settle(self, model: CaseModel) -> None:
        """Advance the model through every phase whose required steps are all done."""
        if self.stateful:
            return  # a state flow moves by its actions alone
        advance = self.machine.events["advance"]
        # The machine's guard checks again; asking first spares a trigger per step.
        while model.state != CLOSED and self.phase_complete(model.state, model.facts):
            advance.trigger(model)

    def kinds_valid(self, kinds: frozenset[str]) -> bool:
        return kinds <= set(self.spec.kinds)

    @cached_property
    def machine(self) -> Any:
        """The one ``transitions`` machine of this flow version, shared by all cases."""
        return _compile_machine(self)

    # ------------------------------------------------------------ views

    def as_json(self, version: int | None = None) -> dict[str, Any]:
        shape: dict[str, Any] = {"name": self.name, "version": version}
        if self.stateful:
            shape["phases"] = []
            shape["states"] = [
                {"id": st.id, "title": st.title, "duty": st.duty, "deadline": st.deadline}
                for st in self.spec.states
            ]
            shape["actions"] = [
                {
                    "id": a.id,
                    "title": a.title,
                    "by": a.by,
                    "from": list(a.sources),
                    "to": [a.to] if isinstance(a.to, str) else [t.state for t in a.to],
                    "move": a.move,
                }
                for a in self.spec.actions
            ]
            return shape
        return {
            **shape,
            "phases": [
                {
                    "id": p.id,
                    "title": p.title,
                    "steps": [
                        {
                            "id": s.id,
                            "tier": s.tier,
                            "title": s.title,
                            "seed_no": s.seed_no,
                            "requires": list(s.requires),
                            "required": s.required,
                        }
                        for s in p.steps
                    ],
                }
                for p in self.spec.phases
            ],
        }


def _compile_machine(flow: Flow) -> Any:
    # Imported here: only commands that move a case pay for transitions' import.
    from transitions import Machine

    if flow.stateful:
        return _compile_state_machine(flow, Machine)

    def phase_complete(event: Any) -> bool:
        model: CaseModel = event.model
        return flow.phase_complete(model.state, model.facts)

    transitions: list[dict[str, Any]] = []
    phases = [p.id for p in flow.spec.phases]
    for here, there in zip(phases, [*phases[1:], CLOSED], strict=True):
        transitions.append(
            {"trigger": "advance", "source": here, "dest": there, "conditions": [phase_complete]}
        )
    for step in flow.steps.values():
        sources = phases if step.early else phases[step.phase_index :]
        transitions.append({"trigger": f"do_{step.id}", "source": sources, "dest": None})
    return Machine(
        model=None,
        states=list(flow.states),
        initial=phases[0],
        transitions=transitions,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )


def _compile_state_machine(flow: Flow, machine_class: Any) -> Any:
    """A state flow's actions as triggers; an action with several targets tries them in
    order, each guarded by its condition on the case's facts (after the move)."""

    def holds(guard: Guard) -> Callable[[Any], bool]:
        return lambda event: guard(event.model.facts)

    transitions: list[dict[str, Any]] = []
    for action in flow.actions.values():
        for target, guard in action.targets:
            transitions.append(
                {
                    "trigger": action.id,
                    "source": list(action.sources),
                    "dest": target,
                    "conditions": [holds(guard)] if guard else [],
                }
            )
    return machine_class(
        model=None,
        states=list(flow.states),
        initial=flow.states[0],
        transitions=transitions,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
