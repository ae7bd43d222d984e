"""What a flow file may say: the pydantic specs, checked field by field.

A flow is written either as phases with steps (the incident flows) or as states with
actions (the inquiry); ``checks.py`` then checks the graph the fields make.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from irflow.engine.tiers import CASE_TIERS, OrgType, Tier

CLOSED = "closed"
TIERS = CASE_TIERS
"""The tiers a step or a flag may belong to: those a case holds (tiers.yaml)."""


def _case_tier(value: Any) -> Any:
    """A tier a case holds, as a tier's name; anything else is refused as a choice."""
    if value not in TIERS:
        choices = ", ".join(repr(str(t)) for t in TIERS[:-1])
        raise PydanticCustomError(
            "literal_error",
            "Input should be {expected}",
            {"expected": f"{choices} or {str(TIERS[-1])!r}"},
        )
    return value


CaseTier = Annotated[Tier, BeforeValidator(_case_tier)]
"""A ``Tier`` that a case holds (not one that takes part in no case)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepSpec(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    tier: CaseTier
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
    declared_by: CaseTier


class ChainSpec(_Strict):
    """A case whose participants form a chain: the opener, then each receiver above."""

    reception: dict[OrgType, OrgType]
    """Whom an organisation of each type reaches first, and escalates to: the
    organisation of the type named above it (``directory.above``: its own prefecture,
    J-LIS, the operator). A type not named cannot open such a case, and an organisation
    whose type is not named is the top of the chain."""


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
