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
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from irflow.engine.durations import Duration, parse_duration
from irflow.engine.yamlfile import Lines, load_mapping, validate
from irflow.errors import InvalidFlow, InvalidInput, NotFound

CLOSED = "closed"
TIERS = ("reporter", "coordinator", "operator")
Tier = Literal["reporter", "coordinator", "operator"]


# --------------------------------------------------------------------------- schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    tier: Tier
    title: str
    seed_no: int | None = Field(default=None, ge=1, le=6)
    """The seed's circled number, ① to ⑥, where the step has one."""
    requires: tuple[str, ...] = ()
    required: bool = True
    required_if: str | None = None
    only_if: str | None = None
    early: bool = False
    reports_to: tuple[str, ...] = ()
    """Whom the step's report reaches: participant tiers, or ``org:<id>`` (PPC, NISC)."""
    announce: str | None = None
    """Post the step's announcement in this site category (a key of routing.yaml's
    ``categories``) and mail every organisation in the directory."""
    deadline: str | None = None
    """How long the step may stay open: "30m", "2h", "1 working day"."""
    ladder: str | None = None
    """The escalation ladder for an overdue step (default: the flow's default_ladder)."""
    why: str | None = None
    """Why the step sits where it does, where the seed leaves the order open."""


class PhaseSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    steps: tuple[StepSpec, ...]


class RungSpec(_Strict):
    after: str
    """How long after the deadline the rung fires ("0m" is at the deadline)."""
    action: Literal["remind", "notify", "mark_overdue"]
    """remind the step's owner; notify the owner's supervisor with the contact plan for
    phoning the owner; mark the case overdue on every list."""


class FlagSpec(_Strict):
    title: str
    declared_by: Tier


Reception = Literal["prefecture", "jlis", "operator"]


class ChainSpec(_Strict):
    """A case whose participants form a chain: the opener, then each receiver above."""

    reception: dict[
        Literal[
            "municipality",
            "prefecture",
            "jlis",
            "ministry",
            "national_agency",
            "aggregation_agency",
            "oversight",
        ],
        Reception,
    ]
    """Whom an organisation of each type reaches first, and escalates to: its own
    prefecture, J-LIS, or the operator. A type not named cannot open such a case, and
    an organisation whose type is not named is the top of the chain."""


class StateSpec(_Strict):
    """A state of a flow written as states and actions (instead of phases and steps)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    duty: str | None = None
    """What the chain's holder must do while the case is here (its deadline's subject)."""
    deadline: str | None = None
    """How long the holder may keep the case here before the ladder starts."""
    ladder: str | None = None


class TargetSpec(_Strict):
    state: str
    when: str | None = None
    """A condition on the case after the action's move (e.g. chain:at_opener)."""


class ActionSpec(_Strict):
    """Something a participant does to a case of a state flow; it may be done again."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    by: Literal["opener", "holder"]
    """The chain's opener, or whichever link holds the case now."""
    sources: tuple[str, ...] = Field(alias="from", min_length=1)
    to: str | tuple[TargetSpec, ...]
    """A state, or a list of states with conditions: the first that holds is taken."""
    move: Literal["stay", "up", "down", "first"] = "stay"
    """How the holder changes: up the chain (a new link is added above the top if
    needed), down one link, back to the first receiver."""
    only_if: str | None = None
    """A condition on the case before the action (``not chain:top``)."""
    why_not: str | None = None
    """What a refusal under ``only_if`` tells the actor."""
    needs_note: bool = False
    """The action carries text (an answer, a follow-up question): --note is required."""
    answers: bool = False
    """Its note is the answer written on the case's form."""
    asks: bool = False
    """Its note adds a question to the case's form."""
    notify: Literal["holder", "none"] = "holder"
    """Tell the holder after the move (a post on the site and a message)."""
    post_box: str | None = None
    """The actor's own site category the post goes in, as a prefix of its name
    (【問合せ】, 【受付】) under the flow's report_category."""


class OpeningSpec(_Strict):
    """What opening a case of a state flow tells the first holder."""

    title: str
    post_box: str | None = None


class FlowSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str
    kinds: tuple[str, ...] = Field(min_length=1)
    default_kind: str
    selected_by: str | None = None
    """A case with this kind runs under this flow; a flow without it is the default."""
    situation: Literal["incident", "normal"] = "incident"
    """The contact-routing situation of this flow's reports (irflow route)."""
    flags: dict[str, FlagSpec] = Field(default_factory=dict)
    report_category: str | None = None
    """The site category (a key of routing.yaml's ``categories``) reports are posted in."""
    report_fields: dict[
        Literal["detected_at", "impact", "response_status", "recovered_at"], str
    ] = Field(default_factory=dict)
    """Which step's moment or note fills each field of the report form."""
    ladders: dict[str, tuple[RungSpec, ...]] = Field(default_factory=dict)
    default_ladder: str | None = None
    phases: tuple[PhaseSpec, ...] = ()
    """A flow of phases and steps (the incident flows) ..."""
    states: tuple[StateSpec, ...] = ()
    """... or of states and actions (the inquiry): a flow has one or the other."""
    actions: tuple[ActionSpec, ...] = ()
    chain: ChainSpec | None = None
    opening: OpeningSpec | None = None
    visibility: Literal["all", "participants"] = "all"
    """Read so that flow versions stored before the gate still parse; it no longer
    decides anything: every case is visible to its participants only (``rules``)."""
    confirm: dict[str, str] = Field(default_factory=dict)
    """What the opener must confirm before opening a case (id: what it confirms)."""
    notice_template: str | None = None
    """The mail template of a state flow's notices (its context: see effects.py)."""
    note: str | None = None

    @field_validator("phases", "states")
    @classmethod
    def _no_closed_phase(cls, phases: tuple[Any, ...]) -> tuple[Any, ...]:
        for phase in phases:
            if phase.id == CLOSED:
                raise ValueError(
                    f"'{CLOSED}' is the final state every flow has; rename the phase or state"
                )
        return phases


# --------------------------------------------------------------------------- guards


@dataclass(slots=True)
class CaseFacts:
    """What a guard may look at: the case's kinds, declared flags and done steps, and
    for a chain, where its holder stands."""

    kinds: frozenset[str]
    flags: frozenset[str]
    done: dict[str, Any] = field(default_factory=dict)
    at_opener: bool = False
    """The chain's holder is its opener (an answer came all the way down)."""
    at_top: bool = False
    """The chain's holder has nobody above it to escalate to."""


Guard = Callable[[CaseFacts], bool]


def _guard_kind(arg: str) -> Guard:
    return lambda facts: arg in facts.kinds


def _guard_flag(arg: str) -> Guard:
    return lambda facts: arg in facts.flags


def _guard_chain(arg: str) -> Guard:
    if arg == "top":
        return lambda facts: facts.at_top
    return lambda facts: facts.at_opener


CHAIN_GUARDS = ("top", "at_opener")

#: Named guard families a flow file may use: ``kind:<kind>``, ``flag:<flag>`` and
#: ``chain:top`` / ``chain:at_opener``; ``not <guard>`` negates one.
GUARD_FAMILIES: dict[str, Callable[[str], Guard]] = {
    "kind": _guard_kind,
    "flag": _guard_flag,
    "chain": _guard_chain,
}


# --------------------------------------------------------------------------- compiled flow


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    tier: str
    title: str
    seed_no: int | None
    requires: tuple[str, ...]
    phase: str
    phase_index: int
    required: bool
    required_if: Guard | None
    required_if_name: str | None
    only_if: Guard | None
    only_if_name: str | None
    early: bool
    reports_to: tuple[str, ...]
    announce: str | None
    deadline: Duration | None
    ladder: tuple[Rung, ...]
    why: str | None


@dataclass(frozen=True, slots=True)
class Action:
    """An action of a state flow, compiled: who does it, from where, and where it leads."""

    id: str
    title: str
    by: str
    sources: tuple[str, ...]
    targets: tuple[tuple[str, Guard | None], ...]
    move: str
    only_if: Guard | None
    only_if_name: str | None
    why_not: str | None
    needs_note: bool
    answers: bool
    asks: bool
    notify: str
    post_box: str | None


@dataclass(frozen=True, slots=True)
class Duty:
    """What the holder of a state flow's case must do in one state, and by when."""

    state: str
    title: str
    deadline: Duration
    ladder: tuple[Rung, ...]


@dataclass(frozen=True, slots=True)
class Rung:
    """One rung of an escalation ladder, numbered from 1."""

    number: int
    after: Duration
    action: str


class CaseModel:
    """The plain object the shared machine drives for one case (never a DB row)."""

    __slots__ = ("facts", "state")

    def __init__(self, state: str, facts: CaseFacts) -> None:
        self.state = state
        self.facts = facts


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
            CLOSED: "完了",
        }
        self.actions: dict[str, Action] = {
            a.id: Action(
                id=a.id,
                title=a.title,
                by=a.by,
                sources=a.sources,
                targets=tuple(
                    (t.state, _compile_guard(t.when) if t.when else None)
                    for t in ((TargetSpec(state=a.to),) if isinstance(a.to, str) else a.to)
                ),
                move=a.move,
                only_if=_compile_guard(a.only_if) if a.only_if else None,
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
                    required_if=_compile_guard(s.required_if) if s.required_if else None,
                    required_if_name=s.required_if,
                    only_if=_compile_guard(s.only_if) if s.only_if else None,
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


def _compile_guard(name: str) -> Guard:
    if name.startswith("not "):
        inner = _compile_guard(name[4:].strip())
        return lambda facts: not inner(facts)
    family, _, arg = name.partition(":")
    return GUARD_FAMILIES[family](arg)


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


# --------------------------------------------------------------------------- loading


def parse_flow(source: str, *, path: str = "<flow>") -> Flow:
    """Validate a flow file's text; refuse it with file, line and fix if it is broken."""
    data, lines = load_mapping(
        source, path=path, what="a flow file is a YAML mapping with name, kinds and phases"
    )
    spec = validate(FlowSpec, data, path=path, lines=lines, hint=_schema_hint)
    _check_graph(spec, path, lines)
    return Flow(spec, source=source, path=path)


def _schema_hint(loc: tuple[Any, ...], error: Any) -> str:
    if loc and loc[-1] == "tier":
        return f" (got {error.get('input')!r}; use one of {', '.join(TIERS)})"
    if error.get("type") == "extra_forbidden":
        return "; remove it or check its spelling"
    if error.get("type") == "missing":
        return "; add it"
    return ""


def _check_graph(spec: FlowSpec, path: str, lines: Lines) -> None:
    """Refuse flows a case could get stuck in: every state must reach closed."""

    def fail(message: str, loc: tuple[Any, ...]) -> None:
        raise InvalidFlow(message, path=path, line=lines.nearest(loc))

    where: dict[str, tuple[int, int]] = {}
    phase_ids: set[str] = set()
    for pi, phase in enumerate(spec.phases):
        if phase.id in phase_ids:
            # A case could never leave the first of the two: refuse before it hangs.
            fail(
                f"phase id {phase.id!r} is used twice; phase ids must be unique",
                ("phases", pi, "id"),
            )
        phase_ids.add(phase.id)
        if not phase.steps:
            fail(f"phase {phase.id!r} has no steps; give it a step or remove it", ("phases", pi))
        for si, step in enumerate(phase.steps):
            if step.id in where:
                fail(
                    f"step id {step.id!r} is used twice; step ids must be unique",
                    ("phases", pi, "steps", si, "id"),
                )
            where[step.id] = (pi, si)
    if spec.default_kind not in spec.kinds:
        fail(
            f"default_kind {spec.default_kind!r} is not one of kinds {list(spec.kinds)}",
            ("default_kind",),
        )
    if spec.selected_by is not None and spec.selected_by not in spec.kinds:
        fail(
            f"selected_by {spec.selected_by!r} is not one of kinds {list(spec.kinds)}",
            ("selected_by",),
        )

    def check_guard(name: str | None, loc: tuple[Any, ...]) -> None:
        if name is None:
            return
        if name.startswith("not "):
            check_guard(name[4:].strip(), loc)
            return
        family, sep, arg = name.partition(":")
        if not sep or family not in GUARD_FAMILIES:
            fail(
                f"condition {name!r} is unknown; write kind:<kind>, flag:<flag>, "
                f"chain:{' or chain:'.join(CHAIN_GUARDS)}, or not <condition>",
                loc,
            )
        if family == "chain" and (arg not in CHAIN_GUARDS or spec.chain is None):
            fail(
                f"condition {name!r} needs a flow with a chain: and one of "
                f"{', '.join('chain:' + g for g in CHAIN_GUARDS)}",
                loc,
            )
        if family == "kind" and arg not in spec.kinds:
            fail(
                f"condition {name!r} names a kind the flow does not have; "
                f"kinds are {list(spec.kinds)}",
                loc,
            )
        if family == "flag" and arg not in spec.flags:
            fail(f"condition {name!r} names an undeclared flag; declare it under flags:", loc)

    def check_duration(text: str | None, loc: tuple[Any, ...]) -> None:
        if text is not None:
            try:
                parse_duration(text)
            except InvalidInput as exc:
                fail(exc.message, loc)

    for name, rungs in spec.ladders.items():
        if not rungs:
            fail(f"ladder {name!r} has no rungs; give it at least one", ("ladders", name))
        for ri, rung in enumerate(rungs):
            check_duration(rung.after, ("ladders", name, ri, "after"))
    for field_name, step_ref in spec.report_fields.items():
        if step_ref not in where:
            fail(
                f"report_fields.{field_name} names step {step_ref!r}, which no phase declares",
                ("report_fields", field_name),
            )
    if spec.default_ladder is not None and spec.default_ladder not in spec.ladders:
        fail(
            f"default_ladder {spec.default_ladder!r} is not one of ladders {list(spec.ladders)}",
            ("default_ladder",),
        )

    if bool(spec.phases) == bool(spec.states):
        fail(
            "a flow declares either phases (with steps) or states (with actions), and "
            "exactly one of them; see irflow/flows/incident.yaml and inquiry.yaml",
            ("phases",) if spec.phases else ("name",),
        )
    if spec.states:
        _check_states(spec, fail, check_guard, check_duration)
        return
    for key in ("actions", "chain", "opening"):
        if getattr(spec, key):
            fail(f"{key}: belongs to a flow of states; a flow of phases has steps", (key,))

    steps = {s.id: s for p in spec.phases for s in p.steps}
    for step_id, (pi, si) in where.items():
        step = steps[step_id]
        base = ("phases", pi, "steps", si)
        check_duration(step.deadline, (*base, "deadline"))
        if step.deadline is not None and not (step.ladder or spec.default_ladder):
            fail(
                f"step {step_id!r} has a deadline but no ladder; name one with ladder: or "
                "set the flow's default_ladder",
                (*base, "deadline"),
            )
        if step.ladder is not None and step.ladder not in spec.ladders:
            fail(
                f"step {step_id!r} uses ladder {step.ladder!r}, which is not declared; "
                f"ladders are {list(spec.ladders)}",
                (*base, "ladder"),
            )
        check_guard(step.required_if, (*base, "required_if"))
        check_guard(step.only_if, (*base, "only_if"))
        for ti, target in enumerate(step.reports_to):
            if target not in TIERS and not (target.startswith("org:") and len(target) > 4):
                fail(
                    f"step {step_id!r} reports to {target!r}; write a tier "
                    f"({', '.join(TIERS)}) or org:<organisation id>",
                    (*base, "reports_to", ti),
                )
        for ri, dep in enumerate(step.requires):
            if dep not in steps:
                fail(
                    f"step {step_id!r} waits for {dep!r}, which no phase declares; "
                    f"declare it or remove it from requires",
                    (*base, "requires", ri),
                )

    # When can each step be done at the earliest? A cycle means never.
    earliest: dict[str, int] = {}
    visiting: set[str] = set()

    def opening_phase(step_id: str) -> int:
        if step_id in earliest:
            return earliest[step_id]
        if step_id in visiting:
            pi, si = where[step_id]
            fail(
                f"steps wait for each other in a cycle through {step_id!r}; break the cycle",
                ("phases", pi, "steps", si, "requires"),
            )
        visiting.add(step_id)
        step = steps[step_id]
        own = 0 if step.early else where[step_id][0]
        earliest[step_id] = max([own, *(opening_phase(d) for d in step.requires)])
        visiting.discard(step_id)
        return earliest[step_id]

    for step_id, (pi, si) in where.items():
        if opening_phase(step_id) > pi and (steps[step_id].required or steps[step_id].required_if):
            blocked = spec.phases[pi].id
            fail(
                f"step {step_id!r} is needed to close phase {blocked!r} but waits for steps of a "
                f"later phase, so state {blocked!r} can never reach closed and every later state "
                "is unreachable; move the step or what it waits for",
                ("phases", pi, "steps", si, "requires"),
            )


def _check_states(
    spec: FlowSpec,
    fail: Callable[[str, tuple[Any, ...]], None],
    check_guard: Callable[[str | None, tuple[Any, ...]], None],
    check_duration: Callable[[str | None, tuple[Any, ...]], None],
) -> None:
    """A state flow: actions lead between declared states, every state is reachable
    from the first and can reach closed, and deadlines have ladders."""
    ids = [st.id for st in spec.states]
    for si, st in enumerate(spec.states):
        if ids.count(st.id) > 1:
            fail(f"state id {st.id!r} is used twice; state ids must be unique", ("states", si))
        check_duration(st.deadline, ("states", si, "deadline"))
        if st.deadline is not None and not (st.ladder or spec.default_ladder):
            fail(
                f"state {st.id!r} has a deadline but no ladder; name one with ladder: or "
                "set the flow's default_ladder",
                ("states", si, "deadline"),
            )
        if st.ladder is not None and st.ladder not in spec.ladders:
            fail(
                f"state {st.id!r} uses ladder {st.ladder!r}, which is not declared; "
                f"ladders are {list(spec.ladders)}",
                ("states", si, "ladder"),
            )
    if not spec.actions:
        fail("a flow of states needs actions that lead between them", ("actions",))
    targets_of: dict[str, set[str]] = {st: set() for st in ids}
    action_ids: list[str] = []
    for ai, action in enumerate(spec.actions):
        base = ("actions", ai)
        if action.id in action_ids:
            fail(f"action id {action.id!r} is used twice; action ids must be unique", base)
        action_ids.append(action.id)
        if action.by == "holder" and spec.chain is None:
            fail(f"action {action.id!r} is done by the holder, which needs a chain:", (*base, "by"))
        if action.move != "stay" and spec.chain is None:
            fail(f"action {action.id!r} moves along a chain; declare chain:", (*base, "move"))
        check_guard(action.only_if, (*base, "only_if"))
        for source in action.sources:
            if source not in ids:
                fail(
                    f"action {action.id!r} starts from {source!r}, which is not a state; "
                    f"states are {ids}",
                    (*base, "from"),
                )
        targets = [TargetSpec(state=action.to)] if isinstance(action.to, str) else list(action.to)
        if not targets:
            fail(f"action {action.id!r} leads nowhere; give it a to: state", (*base, "to"))
        for ti, target in enumerate(targets):
            if target.state not in (*ids, CLOSED):
                fail(
                    f"action {action.id!r} leads to {target.state!r}, which is not a state; "
                    f"states are {[*ids, CLOSED]}",
                    (*base, "to"),
                )
            check_guard(target.when, (*base, "to", ti, "when"))
            for source in action.sources:
                targets_of[source].add(target.state)
        if targets[-1].when is not None:
            # Without a last unconditional target the action can be refused for a
            # reason the flow file does not say; keep flows explicit.
            fail(
                f"action {action.id!r}: its last to: target needs no when:, so that the "
                "action always leads somewhere",
                (*base, "to"),
            )
    reached = {ids[0]}
    frontier = [ids[0]]
    while frontier:
        for nxt in targets_of.get(frontier.pop(), ()):
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    for si, state_id in enumerate(ids):
        if state_id not in reached:
            fail(
                f"state {state_id!r} is unreachable: no action leads to it from {ids[0]!r}; "
                "add one or remove the state",
                ("states", si),
            )
    for si, state_id in enumerate(ids):
        seen, frontier = {state_id}, [state_id]
        while frontier:
            for nxt in targets_of.get(frontier.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        if CLOSED not in seen:
            fail(
                f"state {state_id!r} can never reach closed; add an action that leads on from it",
                ("states", si),
            )


def load_flow_file(path: Path) -> Flow:
    try:
        source = path.read_text("utf-8")
    except FileNotFoundError:
        raise NotFound(
            f"no flow file {str(path)!r}; give the path of a .yaml file, or one of the "
            f"bundled flows: {', '.join(BUNDLED)}"
        ) from None
    return parse_flow(source, path=str(path))


BUNDLED = ("incident", "mislink", "inquiry")


def bundled_flow(name: str) -> Flow:
    """A flow shipped in ``irflow/flows/``."""
    if name not in BUNDLED:
        raise NotFound(f"no bundled flow {name!r}; the flows are {', '.join(BUNDLED)}")
    text = resources.files("irflow.flows").joinpath(f"{name}.yaml").read_text("utf-8")
    return parse_flow(text, path=f"irflow/flows/{name}.yaml")


def mermaid(flow: Flow) -> str:
    """The flow as a mermaid flowchart: phases as subgraphs, steps as nodes."""
    out = ["flowchart TD"]
    if flow.stateful:
        for st in flow.spec.states:
            out.append(f'  {st.id}(["{st.title}"])')
        out.append(f'  {CLOSED}(["{flow.state_titles[CLOSED]}"])')
        for action in flow.spec.actions:
            targets = [action.to] if isinstance(action.to, str) else [t.state for t in action.to]
            for source in action.sources:
                for target in targets:
                    label = f"{action.title}<br/><i>{action.by}</i>"
                    out.append(f'  {source} -- "{label}" --> {target}')
        return "\n".join(out)
    for phase in flow.spec.phases:
        out.append(f'  subgraph {phase.id}["{phase.title}"]')
        for s in phase.steps:
            mark = f"{'①②③④⑤⑥'[s.seed_no - 1]} " if s.seed_no else ""
            optional = "" if s.required else "（任意）"
            out.append(f'    {s.id}["{mark}{s.title}{optional}<br/><i>{s.tier}</i>"]')
        out.append("  end")
    for step in flow.steps.values():
        for dep in step.requires:
            out.append(f"  {dep} --> {step.id}")
    return "\n".join(out)
