"""Contact routing: who to phone, on which number, and what to post, at a moment.

The rules are data (``irflow/flows/routing.yaml``): the windows, the numbers, the
site categories, the forms, the channels with the date they open, and one rule per
cell of the seed's two tables. This module knows no ministry and no number; it
validates the data, then answers ``plan_contact(...)`` as a pure function of
(rules, calendar, sender, recipient, situation, moment).

A plan is an ordered tuple of ``ContactStep``; each step is one of ``lookup``
(find the agency's contact in the directory), ``ask_operator`` (get the agency's
emergency contact from the operator), ``phone``, ``post`` (on the information
sharing site) and ``mail``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict, Field

from irflow.clock import to_jst
from irflow.engine.calendar import AdminCalendar, Window, second_of_day
from irflow.engine.directory import Organisation, OrgType
from irflow.engine.yamlfile import Lines, load_mapping, validate
from irflow.errors import InvalidFlow, InvalidInput

Action: TypeAlias = Literal["lookup", "ask_operator", "phone", "post", "mail"]
Situation: TypeAlias = Literal["incident", "normal"]
WindowName: TypeAlias = Literal["daytime", "off_hours"]
Audience: TypeAlias = Literal["operator", "agency"]
Condition: TypeAlias = Literal["operator_line_open", "operator_line_closed"]
PhoneField: TypeAlias = Literal["daytime_phone", "emergency_phone"]
JSONValue: TypeAlias = str | bool | list[Any] | dict[str, Any] | None

SITUATIONS: tuple[Situation, ...] = get_args(Situation)
_SITUATION_BY_NAME: dict[str, Situation] = {s: s for s in SITUATIONS}
WINDOW_NAMES: tuple[WindowName, ...] = get_args(WindowName)
AUDIENCES: tuple[Audience, ...] = get_args(Audience)

BUNDLED_PATH = "irflow/flows/routing.yaml"


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


# --------------------------------------------------------------------------- the rules


@dataclass(frozen=True, slots=True)
class StepTemplate:
    """A step of a rule, its keys already resolved to the values of the data file."""

    action: Action
    to: Literal["recipient", "operator"] | None
    number: str | None
    number_from: PhoneField | None
    address: str | None
    channel: str | None
    category: str | None
    form: str | None
    name_recipient: bool
    when: Condition | None
    unless_sender: OrgType | None
    note: str | None


@dataclass(frozen=True, slots=True)
class WindowsUsed:
    """Whether the daytime window and the operator line change a rule's plan."""

    daytime: bool
    operator_line: bool


@dataclass(frozen=True, slots=True)
class Channel:
    """A way of contacting that opens on a date, with what to do before it opens."""

    name: str
    label: str
    available_from: date
    fallback_address: str
    fallback_note: str | None


@dataclass(frozen=True)
class RoutingRules:
    """The validated routing data: windows, channels and one rule per table cell."""

    source: str
    operator_label: str
    daytime: Window
    operator_line: Window
    numbers: Mapping[str, str]
    categories: Mapping[str, str]
    forms: Mapping[str, str]
    channels: Mapping[str, Channel]
    extra_closed_days: Mapping[date, str]
    rules: Mapping[tuple[Audience, Situation, WindowName], tuple[StepTemplate, ...]]
    windows_used: Mapping[tuple[Audience, Situation], WindowsUsed]
    """Which windows change the plan of each (audience, situation): the reason names
    only those, so a plan to the operator does not talk about the daytime window."""

    def calendar(self) -> AdminCalendar:
        """An administrative calendar with this file's extra closed days."""
        return AdminCalendar(self.extra_closed_days)


# --------------------------------------------------------------------------- the schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _WindowSpec(_Strict):
    label: str
    start: str = Field(pattern=r"^\d{2}:\d{2}$")
    end: str = Field(pattern=r"^\d{2}:\d{2}$")
    days: Literal["working_days"] = "working_days"


class _WindowsSpec(_Strict):
    daytime: _WindowSpec
    operator_line: _WindowSpec


class _FallbackSpec(_Strict):
    address: str
    note: str | None = None


class _ChannelSpec(_Strict):
    label: str
    as_written: str | None = None
    available_from: date = Field(strict=False)
    fallback: _FallbackSpec


class _ClosedDaySpec(_Strict):
    # The module, not the name: a field called `date` shadows the type in the class.
    date: _dt.date = Field(strict=False)
    reason: str = Field(min_length=1)


class _StepSpec(_Strict):
    action: Action
    to: Literal["recipient", "operator"] | None = None
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


class _RuleSpec(_Strict):
    to: Audience
    situation: Situation
    window: Literal["daytime", "off_hours", "any"]
    steps: list[_StepSpec] = Field(min_length=1)


class _RoutingSpec(_Strict):
    version: Literal[1]
    operator_label: str
    windows: _WindowsSpec
    numbers: dict[str, str]
    categories: dict[str, str]
    forms: dict[str, str]
    addresses: dict[str, str] = {}
    channels: dict[str, _ChannelSpec] = {}
    extra_closed_days: list[_ClosedDaySpec] = []
    rules: list[_RuleSpec]


# --------------------------------------------------------------------------- loading


def load_routing(path: Path | None = None) -> RoutingRules:
    """Load routing rules from ``path``, or the bundled ``routing.yaml`` without one."""
    if path is None:
        return bundled_routing()
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise InvalidInput(
            f"no routing file {str(path)!r}; give the path of a .yaml file"
        ) from None
    return parse_routing(text, source=str(path))


@cache
def bundled_routing() -> RoutingRules:
    """The rules shipped in ``irflow/flows/routing.yaml`` (parsed once per process)."""
    text = resources.files("irflow.flows").joinpath("routing.yaml").read_text("utf-8")
    return parse_routing(text, source=BUNDLED_PATH)


def parse_routing(text: str, *, source: str = "<routing>") -> RoutingRules:
    """Validate routing data; refuse it with the file, the line and the fix."""
    data, lines = load_mapping(
        text,
        path=source,
        what="a routing file is a YAML mapping with version, windows, numbers, categories, "
        "forms and rules",
    )
    spec = validate(_RoutingSpec, data, path=source, lines=lines, hint=_schema_hint)
    return _Compiler(spec, source, lines).compile()


def _schema_hint(loc: tuple[Any, ...], error: Any) -> str:
    if loc and loc[-1] in ("start", "end"):
        return ' (write the time in quotes, like "17:00": unquoted, YAML reads 17:00 as 1020)'
    if error.get("type") == "extra_forbidden":
        return "; remove it or check its spelling"
    if error.get("type") == "missing":
        return "; add it"
    if error.get("type") == "literal_error":
        return f" (got {error.get('input')!r})"
    return ""


class _Compiler:
    """Checks what the schema cannot (references, cells, step shapes), then compiles."""

    def __init__(self, spec: _RoutingSpec, source: str, lines: Lines):
        self.spec = spec
        self.source = source
        self.lines = lines

    def fail(self, message: str, loc: tuple[Any, ...]) -> InvalidFlow:
        return InvalidFlow(message, path=self.source, line=self.lines.nearest(loc))

    def compile(self) -> RoutingRules:
        spec = self.spec
        rules = self.rules()
        return RoutingRules(
            source=self.source,
            operator_label=spec.operator_label,
            daytime=self.window("daytime", spec.windows.daytime),
            operator_line=self.window("operator_line", spec.windows.operator_line),
            numbers=dict(spec.numbers),
            categories=dict(spec.categories),
            forms=dict(spec.forms),
            channels=self.channels(),
            extra_closed_days=self.closed_days(),
            rules=rules,
            windows_used=_windows_used(rules),
        )

    def window(self, name: str, window: _WindowSpec) -> Window:
        loc = ("windows", name)
        try:
            start, end = time.fromisoformat(window.start), time.fromisoformat(window.end)
            return Window(name=name, label=window.label, start=start, end=end)
        except ValueError:
            raise self.fail(
                f"windows.{name}: {window.start!r}-{window.end!r} is not a time of day; "
                'write it like "09:30"',
                loc,
            ) from None
        except InvalidInput as exc:
            raise self.fail(exc.message, loc) from None

    def channels(self) -> dict[str, Channel]:
        compiled = {}
        for name, channel in self.spec.channels.items():
            address = self.lookup("addresses", channel.fallback.address, ("channels", name))
            compiled[name] = Channel(
                name=name,
                label=channel.label,
                available_from=channel.available_from,
                fallback_address=address,
                fallback_note=channel.fallback.note,
            )
        return compiled

    def closed_days(self) -> dict[date, str]:
        days: dict[date, str] = {}
        for i, entry in enumerate(self.spec.extra_closed_days):
            if entry.date in days:
                raise self.fail(
                    f"extra_closed_days: {entry.date} is listed twice; keep one entry",
                    ("extra_closed_days", i),
                )
            days[entry.date] = entry.reason
        return days

    def rules(self) -> dict[tuple[Audience, Situation, WindowName], tuple[StepTemplate, ...]]:
        cells: dict[tuple[Audience, Situation, WindowName], tuple[StepTemplate, ...]] = {}
        for i, rule in enumerate(self.spec.rules):
            loc = ("rules", i)
            steps = tuple(self.step(rule, (i, j), step) for j, step in enumerate(rule.steps))
            windows = WINDOW_NAMES if rule.window == "any" else (rule.window,)
            for window in windows:
                key = (rule.to, rule.situation, window)
                if key in cells:
                    raise self.fail(
                        f"rules[{i}]: a second rule for to={rule.to}, situation="
                        f"{rule.situation}, window={window}; keep one rule per cell",
                        loc,
                    )
                cells[key] = steps
        missing = [
            f"to={a} situation={s} window={w}"
            for a in AUDIENCES
            for s in SITUATIONS
            for w in WINDOW_NAMES
            if (a, s, w) not in cells
        ]
        if missing:
            raise self.fail(
                f"rules: no rule for {'; '.join(missing)}; add one (window: any covers both)",
                ("rules",),
            )
        return cells

    def step(self, rule: _RuleSpec, index: tuple[int, int], step: _StepSpec) -> StepTemplate:
        loc = ("rules", index[0], "steps", index[1])
        where = f"rules[{index[0]}].steps[{index[1]}] ({step.action})"
        self.check_shape(step, rule, where, loc)
        return StepTemplate(
            action=step.action,
            to=step.to,
            number=self.lookup("numbers", step.number, loc),
            number_from=step.number_from,
            address=self.lookup("addresses", step.address, loc),
            channel=step.channel,
            category=self.lookup("categories", step.category, loc),
            form=self.lookup("forms", step.form, loc),
            name_recipient=step.name_recipient,
            when=step.when,
            unless_sender=step.unless_sender,
            note=step.note,
        )

    def check_shape(
        self, step: _StepSpec, rule: _RuleSpec, where: str, loc: tuple[Any, ...]
    ) -> None:
        """Refuse a step that lacks what its action needs, or carries what it cannot use."""
        problem = _shape_problem(step, rule)
        if problem is None and step.channel is not None and step.channel not in self.spec.channels:
            known = ", ".join(self.spec.channels) or "none"
            problem = f"channel {step.channel!r} is not in channels (known: {known})"
        if problem is not None:
            raise self.fail(f"{where}: {problem}", loc)

    def lookup(self, table: str, key: str | None, loc: tuple[Any, ...]) -> Any:
        """The value a step or channel names by key in one of the file's tables."""
        if key is None:
            return None
        values: Mapping[str, str] = getattr(self.spec, table)
        if key not in values:
            known = ", ".join(values) or "none"
            where = ".".join(str(part) for part in loc)
            raise self.fail(
                f"{where}: {table} has no key {key!r}; use one of {known} or add it", loc
            )
        return values[key]


def _windows_used(
    rules: Mapping[tuple[Audience, Situation, WindowName], tuple[StepTemplate, ...]],
) -> dict[tuple[Audience, Situation], WindowsUsed]:
    used = {}
    for audience in AUDIENCES:
        for situation in SITUATIONS:
            inside, outside = (rules[(audience, situation, w)] for w in WINDOW_NAMES)
            used[(audience, situation)] = WindowsUsed(
                daytime=inside != outside,
                operator_line=any(t.when is not None for t in inside + outside),
            )
    return used


def _shape_problem(step: _StepSpec, rule: _RuleSpec) -> str | None:
    """What is wrong with a step's fields for its action, or None."""
    if step.action in ("lookup", "ask_operator", "phone") and step.to is None:
        return "needs `to: recipient` or `to: operator`"
    if step.action == "lookup" and step.to != "recipient":
        return "a lookup finds the recipient's contact: use `to: recipient`"
    if step.action == "ask_operator" and step.to != "operator":
        return "ask_operator asks the operator: use `to: operator`"
    if step.action == "phone" and (step.number is None) == (step.number_from is None):
        return "a phone step needs exactly one of `number` (a key of numbers) or `number_from`"
    if step.number_from is not None and rule.to == "operator":
        return "`number_from` reads an agency's directory entry; use `number` towards the operator"
    if step.action == "post" and (step.channel is None or not step.category or not step.form):
        return "a post needs `channel`, `category` and `form`"
    if (step.action == "mail") != (step.address is not None):
        return "a mail step, and only a mail step, needs `address` (a key of addresses)"
    if step.action != "phone" and (step.number or step.number_from):
        return "only a phone step carries a number"
    return None


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

    ``recipient`` None, or an organisation of type operator, means the operator. A
    naive ``at`` is Japan time; any other offset is converted.
    """
    checked = _SITUATION_BY_NAME.get(situation)
    if checked is None:
        raise InvalidInput(
            f"situation {situation!r} is unknown; use incident or normal "
            "(--situation incident|normal)"
        )
    audience = _audience(sender, recipient)
    jst = to_jst(at)
    day = jst.date()
    working = calendar.is_working_day(day)
    second = second_of_day(jst)
    daytime = working and rules.daytime.contains_second(second)
    line_open = working and rules.operator_line.contains_second(second)
    window: WindowName = "daytime" if daytime else "off_hours"
    templates = rules.rules[(audience, checked, window)]
    steps, fell_back = _resolve_steps(rules, templates, sender, recipient, line_open, day)
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


def _audience(sender: Organisation, recipient: Organisation | None) -> Audience:
    to_operator = recipient is None or recipient.type is OrgType.OPERATOR
    if to_operator and sender.type is OrgType.OPERATOR:
        raise InvalidInput(
            f"{sender.name} is the operator and cannot contact itself; give another --to"
        )
    if recipient is not None and recipient.id == sender.id:
        raise InvalidInput(f"{sender.name} cannot contact itself; give another --to")
    return "operator" if to_operator else "agency"


def _resolve_steps(
    rules: RoutingRules,
    templates: tuple[StepTemplate, ...],
    sender: Organisation,
    recipient: Organisation | None,
    line_open: bool,
    day: date,
) -> tuple[tuple[ContactStep, ...], Channel | None]:
    """Fill the templates in for this pair and moment; say which channel was not open."""
    names = _Names.of(rules, recipient)
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
    """How the steps of one plan call the recipient and the operator."""

    recipient: str
    operator: str

    @staticmethod
    def of(rules: RoutingRules, recipient: Organisation | None) -> _Names:
        if recipient is None:
            return _Names(rules.operator_label, rules.operator_label)
        if recipient.type is OrgType.OPERATOR:
            # The directory's own name for the operator, when the caller gave it.
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
        target = names.operator if template.to == "operator" else names.recipient
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
            f"{closed_channel.label}の利用開始（{opens.year}年{opens.month}月{opens.day}日）前です"
        )
    return "。".join(parts) or None


def _hours_reason(used: WindowsUsed, moment: _Moment) -> str | None:
    rules = moment.rules
    outside = []
    if used.daytime and not moment.daytime:
        outside.append(f"{rules.daytime.label}（{rules.daytime.span()}）")
    if used.operator_line and not moment.line_open:
        outside.append(f"{rules.operator_line.label}（{rules.operator_line.span()}）")
    if not outside:
        return None
    return f"{moment.jst:%H:%M}は{'及び'.join(outside)}の時間外です"


# --------------------------------------------------------------------------- the terminal


def render_checklist(plan: ContactPlan, recipient_name: str) -> str:
    """The plan as a numbered checklist in Japanese, with the reason line."""
    lines = [f"{recipient_name}への連絡手順（{plan.at:%Y-%m-%d %H:%M} 日本時間）"]
    if plan.reason:
        lines.append(f"理由: {plan.reason}")
    for number, step in enumerate(plan.steps, start=1):
        lines.extend(_step_lines(number, step))
    return "\n".join(lines)


def _step_lines(number: int, step: ContactStep) -> list[str]:
    lines = [f"{number}. {_STEP_PHRASES[step.action](step)}"]
    if step.note:
        # Under the step, indented past "1. ", so the action stays the first thing read.
        lines.append(f"   {step.note}")
    return lines


def _named(step: ContactStep) -> str:
    return "、".join(step.named or ())


def _lookup_line(step: ContactStep) -> str:
    return f"{step.target}の連絡先を確認する"


def _ask_operator_line(step: ContactStep) -> str:
    return f"{step.target}に{_named(step)}の緊急連絡先を確認する"


def _phone_line(step: ContactStep) -> str:
    number = step.number or "番号が名簿にありません"
    return f"{step.target}に電話する: {number}"


def _post_line(step: ContactStep) -> str:
    text = f"{step.target}の「{step.category}」に「{step.form}」を添付して掲載する"
    if step.named:
        text += f"（相手先機関: {_named(step)}）"
    return text


def _mail_line(step: ContactStep) -> str:
    details = []
    if step.form:
        details.append(f"「{step.form}」を添付")
    if step.named:
        details.append(f"対象機関: {_named(step)}")
    text = f"{step.target} 宛てに電子メールを送る"
    return text + (f"（{'、'.join(details)}）" if details else "")


_STEP_PHRASES = {
    "lookup": _lookup_line,
    "ask_operator": _ask_operator_line,
    "phone": _phone_line,
    "post": _post_line,
    "mail": _mail_line,
}
