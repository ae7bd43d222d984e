"""Contact routing: who to phone, on which number, and what to post, at a moment.

The rules are data (``irflow/flows/routing.yaml``, read by ``routing_rules`` after
``routing_schema``): the situations, the audiences, the windows, the numbers, the
site categories, the forms, the channels with the date they open, and one rule per
cell of the seed's two tables. This module knows no ministry, no number and no
phrase; it answers ``plan_contact(...)`` as a pure function of (rules, calendar,
sender, recipient, situation, moment), and words a plan as a checklist with the
phrases of ``irflow/templates/phrases.yaml``.

A plan is an ordered tuple of ``ContactStep``; each step is one of ``lookup``
(find the agency's contact in the directory), ``ask_operator`` (get the agency's
emergency contact from the operator), ``phone``, ``post`` (on the information
sharing site) and ``mail``.

Callers import routing from here: the rules' names (``RoutingRules``,
``bundled_routing``, ``load_routing``, ``parse_routing``) are re-exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeAlias

from irflow.clock import to_jst
from irflow.engine.calendar import AdminCalendar, Window, second_of_day
from irflow.engine.directory import Organisation
from irflow.engine.phrases import PhraseBook
from irflow.engine.routing_rules import (
    Channel,
    RoutingRules,
    StepTemplate,
    WindowsUsed,
    bundled_routing,
    load_routing,
    parse_routing,
)
from irflow.engine.routing_schema import Action, WindowName
from irflow.errors import InvalidInput

__all__ = [
    "ContactPlan",
    "ContactStep",
    "RoutingRules",
    "bundled_routing",
    "load_routing",
    "parse_routing",
    "plan_contact",
    "render_checklist",
]

JSONValue: TypeAlias = str | bool | list[Any] | dict[str, Any] | None

_REASONS = PhraseBook(
    "routing",
    {
        "outside_hours": ("at", "windows"),
        "window": ("label", "span"),
        "and": (),
        "channel_not_open": ("channel", "year", "month", "day"),
        "then": (),
    },
)
_CHECKLIST = PhraseBook(
    "checklist",
    {
        "heading": ("recipient", "at"),
        "reason": ("reason",),
        "lookup": ("target",),
        "ask_operator": ("target", "named"),
        "phone": ("target", "number"),
        "no_number": (),
        "post": ("target", "category", "form"),
        "post_named": ("named",),
        "mail": ("target",),
        "mail_form": ("form",),
        "mail_named": ("named",),
        "mail_details": ("details",),
        "list": (),
    },
)


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactStep:
    """One thing to do, in order.

    ``target`` is whom the step addresses: an organisation's name for ``lookup``,
    ``ask_operator`` and ``phone``, the channel (情報共有サイト) for ``post``, the
    e-mail address for ``mail``. ``named`` lists the agencies named on a post or mail
    (or, for ``ask_operator``, the agency whose contact is asked for).
    """

    action: Action
    target: str | None = None
    number: str | None = None
    category: str | None = None
    form: str | None = None
    named: tuple[str, ...] | None = None
    note: str | None = None

    def to_json(self) -> dict[str, JSONValue]:
        """The step as the JSON output shows it; absent fields are null."""
        return {
            "action": self.action,
            "target": self.target,
            "number": self.number,
            "category": self.category,
            "form": self.form,
            "named": list(self.named) if self.named is not None else None,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactPlan:
    """What to do to reach someone at a moment, and why the moment matters."""

    at: datetime
    """The moment, in Japan time."""
    window: WindowName
    """``daytime`` inside the daytime window of a working day, else ``off_hours``."""
    operator_line_open: bool
    """Whether the operator's fallback line takes calls at this moment."""
    working_day: bool
    steps: tuple[ContactStep, ...]
    reason: str | None = None
    """Why the plan is not the working-day daytime one, in Japanese; None when it is."""

    def to_json(self) -> dict[str, JSONValue]:
        """The plan as ``irflow route --json`` prints it (``at`` in Japan time)."""
        return {
            "at": self.at.isoformat(),
            "window": self.window,
            "operator_line_open": self.operator_line_open,
            "working_day": self.working_day,
            "steps": [step.to_json() for step in self.steps],
        }


# --------------------------------------------------------------------------- planning


def plan_contact(
    rules: RoutingRules,
    calendar: AdminCalendar,
    sender: Organisation,
    recipient: Organisation | None,
    situation: str,
    at: datetime,
) -> ContactPlan:
    """The contact plan for ``sender`` to reach ``recipient`` about ``situation`` at ``at``.

    ``recipient`` None, or an organisation of the hub's types, means the hub (the
    network's operator). A naive ``at`` is Japan time; any other offset is converted.
    """
    checked = rules.check_situation(situation)
    audience = _audience(rules, sender, recipient)
    names = _Names.of(rules, recipient, audience)
    jst = to_jst(at)
    day = jst.date()
    working = calendar.is_working_day(day)
    second = second_of_day(jst)
    daytime = working and rules.daytime.contains_second(second)
    line_open = working and rules.operator_line.contains_second(second)
    window: WindowName = "daytime" if daytime else "off_hours"
    templates = rules.rules[(audience, checked, window)]
    steps, fell_back = _resolve_steps(rules, templates, sender, recipient, names, line_open, day)
    return ContactPlan(
        at=jst,
        window=window,
        operator_line_open=line_open,
        working_day=working,
        steps=steps,
        reason=_reason(
            rules.windows_used[(audience, checked)],
            _Moment(rules, calendar, jst, working, daytime, line_open),
            fell_back,
        ),
    )


def _audience(rules: RoutingRules, sender: Organisation, recipient: Organisation | None) -> str:
    audience = rules.audience_of(recipient)
    if audience == rules.hub and rules.audience_of(sender) == audience:
        raise InvalidInput(
            f"{sender.name} is the {rules.hub} and cannot contact itself; give another --to"
        )
    if recipient is not None and recipient.id == sender.id:
        raise InvalidInput(f"{sender.name} cannot contact itself; give another --to")
    return audience


def _resolve_steps(
    rules: RoutingRules,
    templates: tuple[StepTemplate, ...],
    sender: Organisation,
    recipient: Organisation | None,
    names: _Names,
    line_open: bool,
    day: date,
) -> tuple[tuple[ContactStep, ...], Channel | None]:
    """Fill the templates in for this pair and moment; say which channel was not open."""
    steps: list[ContactStep] = []
    closed_channel: Channel | None = None
    for template in templates:
        if not _applies(template, sender, line_open):
            continue
        step = _fill(rules, template, recipient, names)
        channel = rules.channels.get(template.channel) if template.channel else None
        if channel is not None and day < channel.available_from:
            step = _fallback(channel, step)
            closed_channel = channel
        steps.append(step)
    return tuple(steps), closed_channel


@dataclass(frozen=True, slots=True)
class _Names:
    """How the steps of one plan call the recipient and the hub."""

    recipient: str
    hub: str

    @staticmethod
    def of(rules: RoutingRules, recipient: Organisation | None, audience: str) -> _Names:
        if recipient is None:
            return _Names(rules.operator_label, rules.operator_label)
        if audience == rules.hub:
            # The directory's own name for the hub, when the caller gave it.
            return _Names(recipient.name, recipient.name)
        return _Names(recipient.name, rules.operator_label)


def _applies(template: StepTemplate, sender: Organisation, line_open: bool) -> bool:
    if template.unless_sender is not None and sender.type is template.unless_sender:
        return False
    if template.when == "operator_line_open":
        return line_open
    if template.when == "operator_line_closed":
        return not line_open
    return True


def _fill(
    rules: RoutingRules,
    template: StepTemplate,
    recipient: Organisation | None,
    names: _Names,
) -> ContactStep:
    target: str | None
    if template.action == "post":
        target = rules.channels[template.channel or ""].label
    elif template.action == "mail":
        target = template.address
    else:
        target = names.hub if template.to == rules.hub else names.recipient
    number = template.number
    if template.number_from is not None and recipient is not None:
        number = getattr(recipient, template.number_from)
    return ContactStep(
        action=template.action,
        target=target,
        number=number,
        category=template.category,
        form=template.form,
        named=(names.recipient,) if template.name_recipient else None,
        note=template.note,
    )


def _fallback(channel: Channel, step: ContactStep) -> ContactStep:
    """The e-mail that replaces a step on a channel not yet open, about the same agency."""
    named = step.named
    if named is None and step.action == "lookup" and step.target is not None:
        named = (step.target,)
    return ContactStep(
        action="mail",
        target=channel.fallback_address,
        form=step.form,
        named=named,
        note=channel.fallback_note,
    )


# --------------------------------------------------------------------------- the reason


@dataclass(frozen=True, slots=True)
class _Moment:
    """Where a moment falls, for the reason text."""

    rules: RoutingRules
    calendar: AdminCalendar
    jst: datetime
    working: bool
    daytime: bool
    line_open: bool


def _reason(used: WindowsUsed, moment: _Moment, closed_channel: Channel | None) -> str | None:
    """Why the plan is not the working-day daytime one, naming only what changed it."""
    parts: list[str] = []
    if used.daytime or used.operator_line:
        if not moment.working:
            parts.append(moment.calendar.closed_reason(moment.jst.date()) or "")
        elif (hours := _hours_reason(used, moment)) is not None:
            parts.append(hours)
    if closed_channel is not None:
        opens = closed_channel.available_from
        parts.append(
            _REASONS.fill(
                "channel_not_open",
                channel=closed_channel.label,
                year=opens.year,
                month=opens.month,
                day=opens.day,
            )
        )
    return _REASONS["then"].join(parts) if parts else None


def _hours_reason(used: WindowsUsed, moment: _Moment) -> str | None:
    rules = moment.rules
    outside = []
    if used.daytime and not moment.daytime:
        outside.append(_window_phrase(rules.daytime))
    if used.operator_line and not moment.line_open:
        outside.append(_window_phrase(rules.operator_line))
    if not outside:
        return None
    return _REASONS.fill("outside_hours", at=moment.jst, windows=_REASONS["and"].join(outside))


def _window_phrase(window: Window) -> str:
    return _REASONS.fill("window", label=window.label, span=window.span())


# --------------------------------------------------------------------------- the checklist


def render_checklist(plan: ContactPlan, recipient_name: str) -> str:
    """The plan as a numbered checklist, with the reason line, in the phrases' words."""
    lines = [_CHECKLIST.fill("heading", recipient=recipient_name, at=plan.at)]
    if plan.reason:
        lines.append(_CHECKLIST.fill("reason", reason=plan.reason))
    for number, step in enumerate(plan.steps, start=1):
        lines.append(f"{number}. {_step_line(step)}")
        if step.note:
            # Under the step, indented past "1. ", so the action stays the first thing read.
            lines.append(f"   {step.note}")
    return "\n".join(lines)


def _step_line(step: ContactStep) -> str:
    named = _CHECKLIST["list"].join(step.named or ())
    line = _CHECKLIST.fill(
        step.action,
        target=step.target,
        named=named,
        number=step.number or _CHECKLIST["no_number"],
        category=step.category,
        form=step.form,
    )
    if step.action == "post" and step.named:
        line += _CHECKLIST.fill("post_named", named=named)
    if step.action == "mail":
        details = [
            *([_CHECKLIST.fill("mail_form", form=step.form)] if step.form else []),
            *([_CHECKLIST.fill("mail_named", named=named)] if step.named else []),
        ]
        if details:
            line += _CHECKLIST.fill("mail_details", details=_CHECKLIST["list"].join(details))
    return line
