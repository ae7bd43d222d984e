"""The checks a command makes before it writes; each refusal names the fix.

Pure functions of the case as read, its flow and the command's input. They run after
the actor's roles are known, so a refused outsider learns nothing of the case.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from irflow.engine.columns import split
from irflow.engine.directory import Directory
from irflow.engine.flow import CLOSED, CaseFacts, Flow, Step
from irflow.engine.ledger import CaseRecord
from irflow.engine.phrases import PhraseBook
from irflow.errors import Conflict, InvalidInput, NotAllowed, StepNotOpen

SKEW = timedelta(seconds=60)
"""How far behind a case's latest event an undated command may read the clock and
still be recorded (at that event's moment)."""


_WORDING = PhraseBook("commands", {"assignable_coordinators": ()})


def assignable_coordinators() -> str:
    """How a refusal names whom a case's coordinator may be handed to (the types
    tiers.yaml makes ``assignable``)."""
    return _WORDING["assignable_coordinators"]


def check_moment(case: CaseRecord, moment: datetime, *, dated: bool = True) -> datetime:
    """The moment a command is recorded at: ``moment``, which may not be before the
    case's latest event. An undated command (``dated`` false: the clock's moment) a
    little behind it, by at most ``SKEW`` (a writer that committed between this one's
    reading of the clock and its write, or another machine's clock a little ahead), is
    recorded at the latest event's moment instead of refused."""
    if case.last_at is not None and moment < case.last_at:
        if not dated and case.last_at - moment <= SKEW:
            return case.last_at
        raise InvalidInput(
            f"case {case.id}'s latest event is at {case.last_at.isoformat()}; a command "
            f"cannot be dated before it ({moment.isoformat()}): give a later --at"
        )
    return moment


def check_version(case: CaseRecord, expect_version: int | None) -> None:
    if expect_version is not None and expect_version != case.version:
        raise Conflict(
            f"case {case.id} is at version {case.version}, not {expect_version}: someone "
            "changed it since you read it; look at `irflow case show` and try again",
            case_id=case.id,
            expected=expect_version,
            actual=case.version,
        )


def declared_flags(
    case: CaseRecord, flow: Flow, roles: list[str], declare: Sequence[str]
) -> frozenset[str]:
    """The case's flags with ``declare`` added, each one the flow's and the actor's to set."""
    if not declare:
        return split(case.flags)
    flags = set(split(case.flags))
    for flag in declare:
        spec = flow.spec.flags.get(flag)
        if spec is None:
            known = ", ".join(flow.spec.flags) or "none"
            raise InvalidInput(f"flow {flow.name!r} has no flag {flag!r}; its flags: {known}")
        if spec.declared_by not in roles:
            raise NotAllowed(
                f"flag {flag!r} ({spec.title}) is declared by the "
                f"{spec.declared_by} of case {case.id}"
            )
        flags.add(flag)
    return frozenset(flags)


def check_open(
    case: CaseRecord, flow: Flow, step: Step, facts: CaseFacts, directory: Directory
) -> None:
    """The step can be done now: not done yet, part of the case, in reach, not waiting."""
    if step.id in facts.done:
        by, when = facts.done[step.id]
        raise StepNotOpen(
            f"step {step.id!r} of case {case.id} was done already by "
            f"{directory.name(by)} at {when}",
            case_id=case.id,
            step=step.id,
        )
    if not flow.present(step, facts):
        raise InvalidInput(
            f"step {step.id!r} is not part of case {case.id} (its kinds: "
            f"{case.kinds}); it applies when {step.only_if_name}"
        )
    if case.state == CLOSED:
        raise StepNotOpen(f"case {case.id} is closed", case_id=case.id, step=step.id)
    if not step.early and step.phase_index > flow.phase_index[case.state]:
        raise StepNotOpen(
            f"step {step.id!r} belongs to phase {step.phase!r}; case {case.id} is still in "
            f"phase {case.state!r}",
            case_id=case.id,
            step=step.id,
        )
    pending = flow.waits_for(step, facts)
    if pending:
        raise StepNotOpen(
            f"step {step.id!r} of case {case.id} waits for {', '.join(pending)}; those come first",
            case_id=case.id,
            step=step.id,
        )


def check_flag_timing(
    case: CaseRecord, flow: Flow, facts: CaseFacts, declare: Sequence[str]
) -> None:
    """A flag that makes steps required may not be declared after their phase closed."""
    here = flow.phase_index[case.state]
    for flag in declare:
        for s in flow.steps.values():
            if s.required_if_name == f"flag:{flag}" and s.phase_index < here:
                raise InvalidInput(
                    f"flag {flag!r} makes step {s.id!r} of phase {s.phase!r} required, and "
                    f"case {case.id} has left that phase; declare it before that phase ends"
                )


def check_confirmed(flow: Flow, confirmed: Sequence[str]) -> None:
    """The opener confirmed everything the flow asks (its ``confirm:``), and no more."""
    unknown = sorted(set(confirmed) - set(flow.spec.confirm))
    if unknown:
        raise InvalidInput(
            f"flow {flow.name!r} asks no confirmation {', '.join(unknown)}; "
            f"it asks {', '.join(flow.spec.confirm) or 'none'}"
        )
    for key, what in flow.spec.confirm.items():
        if key not in confirmed:
            raise InvalidInput(
                f"confirm first: {what} (--{key.replace('_', '-')}); nothing was opened"
            )
