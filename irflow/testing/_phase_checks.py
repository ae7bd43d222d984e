"""The invariants of a case of a flow of phases and steps (incident, mislink), and the
refusals whose kind its rules fix."""

from __future__ import annotations

from irflow.engine.flow import CLOSED, TIERS, Flow
from irflow.engine.views import CaseView
from irflow.errors import IrflowError, NotAllowed, NotFound


def participants_of(view: CaseView) -> dict[str, str]:
    """Who the case's participant of each tier is now."""
    return {
        "reporter": view.reporter.id,
        "coordinator": view.coordinator.id,
        "operator": view.operator.id,
    }


def check_phase_case(flow: Flow, view: CaseView) -> None:
    """Every step done by the participant of its tier at that moment, never twice, never
    moving the state back; deadlines kept for exactly the open steps the case needs; a
    closed case has every required step done, an open one a required step open."""
    case_id = view.id
    # Who was the participant of each tier when each step was done?
    opened = view.timeline[0].payload
    participants: dict[str, str] = {t: str(opened[t]) for t in TIERS}
    done_by: dict[str, str | None] = {}
    last_index = 0
    for event in view.timeline[1:]:
        if event.action == "coordinator_assigned":
            participants["coordinator"] = str(event.payload["to"])
        elif event.action == "escalated":
            assert event.step not in done_by, f"step {event.step!r} escalated after it was done"
            assert event.from_state == event.to_state != CLOSED
        elif event.action == "step_completed" and event.step is not None:
            step = flow.steps[event.step]
            assert event.actor == participants[step.tier], (
                f"step {step.id!r} of tier {step.tier} was done by {event.actor}, "
                f"not by the {step.tier} {participants[step.tier]}"
            )
            assert event.step not in done_by, f"step {event.step!r} was done twice"
            done_by[event.step] = event.actor
            assert event.to_state is not None
            assert event.from_state is not None
            assert flow.phase_index[event.to_state] >= flow.phase_index[event.from_state]
            assert flow.phase_index[event.to_state] >= last_index, "the state moved back"
            last_index = flow.phase_index[event.to_state]
    assert participants["coordinator"] == view.coordinator.id

    for s in view.steps:
        assert (s.status == "done") == (s.id in done_by), f"step {s.id!r} status {s.status}"
        if s.status == "done":
            assert s.done_by == done_by[s.id]
    # Deadlines: exactly the open steps the case needs, each with its whole ladder.
    needed = {
        s.id
        for s in view.steps
        if s.required and s.status == "open" and flow.steps[s.id].deadline is not None
    }
    rungs: dict[str, set[int]] = {}
    for d in view.deadlines:
        rungs.setdefault(d.step, set()).add(d.rung)
    assert set(rungs) == needed, (
        f"case {case_id} has deadlines for {sorted(rungs)}, its open required steps "
        f"with deadlines are {sorted(needed)}"
    )
    for step_id, numbers in rungs.items():
        assert numbers == {r.number for r in flow.steps[step_id].ladder}
    if view.state == CLOSED:
        assert view.closed_at is not None
        missing = [s.id for s in view.steps if s.required and s.status != "done"]
        assert not missing, f"closed case {case_id} has required steps not done: {missing}"
    else:
        assert view.closed_at is None
        assert any(s.required and s.status == "open" for s in view.steps), (
            f"case {case_id} in state {view.state!r} has no required step open: it is stuck"
        )


def check_refusal(
    flow: Flow, exc: IrflowError, step_id: str, actor: str, participants: dict[str, str]
) -> None:
    """The refusals whose kind the rules fix: NotFound, then NotAllowed, before all else.
    An organisation outside the case is told it does not exist, whatever it asked."""
    if actor not in participants.values() or step_id not in flow.steps:
        assert isinstance(exc, NotFound), f"expected NotFound, got {exc!r}"
        return
    roles = [role for role, who in participants.items() if who == actor]
    if flow.steps[step_id].tier not in roles:
        assert isinstance(exc, NotAllowed), (
            f"{actor} ({'/'.join(roles) or 'outsider'}) doing step {step_id!r} got "
            f"{type(exc).__name__}, not NotAllowed: {exc}"
        )
