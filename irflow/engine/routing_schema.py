"""The schema of the routing file: what ``irflow/flows/routing.yaml`` may say.

pydantic models refuse a field that is unknown, missing or of the wrong kind;
``shape_problem`` refuses a step whose fields do not fit its action. What the fields
mean, and the checks across them (references, cells, audiences), are
in ``irflow.engine.routing_rules``.
"""

from __future__ import annotations

import datetime as _dt
from datetime import date
from typing import Annotated, Any, Literal, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict, Field

from irflow.engine.directory import OrgType

Action: TypeAlias = Literal["lookup", "ask_operator", "phone", "post", "mail"]
WindowName: TypeAlias = Literal["daytime", "off_hours"]
Condition: TypeAlias = Literal["operator_line_open", "operator_line_closed"]
PhoneField: TypeAlias = Literal["daytime_phone", "emergency_phone"]
Cell: TypeAlias = tuple[str, str, WindowName]
"""(audience, situation, window): the key of one rule."""

WINDOW_NAMES: tuple[WindowName, ...] = get_args(WindowName)
RECIPIENT = "recipient"
"""A step's ``to:`` for whom the plan is for (the other value is the hub's name)."""


class Strict(BaseModel):
    """A part of the file: no unknown field, no coercion unless a field asks for it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AudienceSpec(Strict):
    types: list[Annotated[OrgType, Field(strict=False)]] = []
    label: str | None = None


class WindowSpec(Strict):
    label: str
    start: str = Field(pattern=r"^\d{2}:\d{2}$")
    end: str = Field(pattern=r"^\d{2}:\d{2}$")
    days: Literal["working_days"] = "working_days"


class WindowsSpec(Strict):
    daytime: WindowSpec
    operator_line: WindowSpec


class FallbackSpec(Strict):
    address: str
    note: str | None = None


class ChannelSpec(Strict):
    label: str
    as_written: str | None = None
    available_from: date = Field(strict=False)
    fallback: FallbackSpec


class ClosedDaySpec(Strict):
    # The module, not the name: a field called `date` shadows the type in the class.
    date: _dt.date = Field(strict=False)
    reason: str = Field(min_length=1)


class StepSpec(Strict):
    action: Action
    to: str | None = None
    number: str | None = None
    number_from: PhoneField | None = None
    address: str | None = None
    channel: str | None = None
    category: str | None = None
    form: str | None = None
    name_recipient: bool = False
    when: Condition | None = None
    unless_sender: OrgType | None = Field(default=None, strict=False)
    note: str | None = None


class RuleSpec(Strict):
    to: str
    situation: str
    window: Literal["daytime", "off_hours", "any"]
    steps: list[StepSpec] = Field(min_length=1)


class RoutingSpec(Strict):
    version: Literal[1]
    situations: list[str] = Field(min_length=1)
    audiences: dict[str, AudienceSpec] = Field(min_length=1)
    windows: WindowsSpec
    numbers: dict[str, str]
    categories: dict[str, str]
    forms: dict[str, str]
    addresses: dict[str, str] = {}
    channels: dict[str, ChannelSpec] = {}
    extra_closed_days: list[ClosedDaySpec] = []
    rules: list[RuleSpec]


def schema_hint(loc: tuple[Any, ...], error: Any) -> str:
    """The fix to add to pydantic's message about the field at ``loc``."""
    if loc and loc[-1] in ("start", "end"):
        return ' (write the time in quotes, like "17:00": unquoted, YAML reads 17:00 as 1020)'
    if error.get("type") == "extra_forbidden":
        return "; remove it or check its spelling"
    if error.get("type") == "missing":
        return "; add it"
    if error.get("type") in ("literal_error", "enum"):
        return f" (got {error.get('input')!r})"
    return ""


def shape_problem(step: StepSpec, rule: RuleSpec, hub: str) -> str | None:
    """What is wrong with a step's fields for its action, or None."""
    if step.to is not None and step.to not in (RECIPIENT, hub):
        return f"`to` is {RECIPIENT} or {hub}, not {step.to!r}"
    if step.action in ("lookup", "ask_operator", "phone") and step.to is None:
        return f"needs `to: {RECIPIENT}` or `to: {hub}`"
    if step.action == "lookup" and step.to != RECIPIENT:
        return f"a lookup finds the recipient's contact: use `to: {RECIPIENT}`"
    if step.action == "ask_operator" and step.to != hub:
        return f"ask_operator asks the {hub}: use `to: {hub}`"
    if step.action == "phone" and (step.number is None) == (step.number_from is None):
        return "a phone step needs exactly one of `number` (a key of numbers) or `number_from`"
    if step.number_from is not None and rule.to == hub:
        return f"`number_from` reads an agency's directory entry; use `number` towards the {hub}"
    if step.action == "post" and (step.channel is None or not step.category or not step.form):
        return "a post needs `channel`, `category` and `form`"
    if (step.action == "mail") != (step.address is not None):
        return "a mail step, and only a mail step, needs `address` (a key of addresses)"
    if step.action != "phone" and (step.number or step.number_from):
        return "only a phone step carries a number"
    return None
