"""The parts of a compiled flow: steps, actions, duties and the rungs of their ladders."""

from __future__ import annotations

from dataclasses import dataclass

from irflow.engine.durations import Duration
from irflow.engine.flow.facts import Guard
from irflow.engine.tiers import Tier


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    tier: Tier
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
