"""The graph checks a flow passes when it loads: no case of it can get stuck.

Every condition names a known guard, every duration parses, every deadline has a
ladder; in a flow of phases no step waits for a later phase it is needed before; in a
flow of states every state is reachable from the first and can reach closed. A
refusal names the file, the line and the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from irflow.engine.durations import parse_duration
from irflow.engine.flow.facts import CHAIN_GUARDS, GUARD_FAMILIES
from irflow.engine.flow.schema import CLOSED, TIERS, FlowSpec, TargetSpec
from irflow.engine.yamlfile import Lines
from irflow.errors import InvalidFlow, InvalidInput


def schema_hint(loc: tuple[Any, ...], error: Any) -> str:
    if loc and loc[-1] == "tier":
        return f" (got {error.get('input')!r}; use one of {', '.join(TIERS)})"
    if error.get("type") == "extra_forbidden":
        return "; remove it or check its spelling"
    if error.get("type") == "missing":
        return "; add it"
    return ""


def check_graph(spec: FlowSpec, path: str, lines: Lines) -> None:
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
