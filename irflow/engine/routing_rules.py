"""The routing file: its checks, and the rules it compiles to.

``irflow/flows/routing.yaml`` declares everything routing knows: the situations a
contact can be about, the audiences (whom a rule is for, by the recipient's
organisation type), the windows, the numbers, the site categories, the forms, the
channels with the date they open, and one rule per cell of (audience, situation,
window). ``irflow.engine.routing_schema`` says what the file may hold; this module
checks what the schema cannot (references, cells, audiences) with errors that name
the file, the line and the fix, and compiles it to ``RoutingRules``;
``irflow.engine.routing`` plans contacts from them.

One audience carries a ``label``: the hub, which plans go to when no recipient is
named and which steps reach with ``to: <its name>`` (in the bundled file, the
network's operator). Exactly one audience lists no organisation types: it takes every
recipient whose type no other audience lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from irflow.engine.calendar import AdminCalendar, Window
from irflow.engine.directory import Organisation, OrgType
from irflow.engine.routing_schema import (
    WINDOW_NAMES,
    Action,
    Cell,
    Condition,
    PhoneField,
    RoutingSpec,
    RuleSpec,
    StepSpec,
    WindowSpec,
    schema_hint,
    shape_problem,
)
from irflow.engine.yamlfile import Lines, load_mapping, validate
from irflow.errors import InvalidFlow, InvalidInput

BUNDLED_PATH = "irflow/flows/routing.yaml"

# --------------------------------------------------------------------------- the rules


@dataclass(frozen=True, slots=True)
class StepTemplate:
    """A step of a rule, its keys already resolved to the values of the data file."""

    action: Action
    to: str | None
    """``recipient``, the hub's name, or None for a step that addresses a channel."""
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
    """The validated routing data: audiences, windows, channels and one rule per cell."""

    source: str
    situations: tuple[str, ...]
    """The situations a contact can be about, as the file declares them."""
    audiences: tuple[str, ...]
    hub: str
    """The audience plans go to when no recipient is named (the network's operator)."""
    operator_label: str
    """How plans name the hub when the caller names no organisation of it."""
    audience_by_type: Mapping[OrgType, str]
    """The audience of a recipient of each listed organisation type."""
    other_audience: str
    """The audience of a recipient whose type no audience lists."""
    daytime: Window
    operator_line: Window
    numbers: Mapping[str, str]
    categories: Mapping[str, str]
    forms: Mapping[str, str]
    channels: Mapping[str, Channel]
    extra_closed_days: Mapping[date, str]
    rules: Mapping[Cell, tuple[StepTemplate, ...]]
    windows_used: Mapping[tuple[str, str], WindowsUsed]
    """Which windows change the plan of each (audience, situation): the reason names
    only those, so a plan to the operator does not talk about the daytime window."""

    def calendar(self) -> AdminCalendar:
        """An administrative calendar with this file's extra closed days."""
        return AdminCalendar(self.extra_closed_days)

    def audience_of(self, recipient: Organisation | None) -> str:
        """Whom a plan to ``recipient`` is for; None is the hub."""
        if recipient is None:
            return self.hub
        return self.audience_by_type.get(recipient.type, self.other_audience)

    def check_situation(self, situation: str) -> str:
        """``situation`` if the file declares it; else refused, naming the ones it does."""
        if situation not in self.situations:
            raise InvalidInput(
                f"situation {situation!r} is unknown; use {_either(self.situations)} "
                f"(--situation {'|'.join(self.situations)})"
            )
        return situation


def _either(names: tuple[str, ...]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    *rest, last = names
    return f"{', '.join(rest)} or {last}" if rest else last


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
        what="a routing file is a YAML mapping with version, situations, audiences, windows, "
        "numbers, categories, forms and rules",
    )
    spec = validate(RoutingSpec, data, path=source, lines=lines, hint=schema_hint)
    return _Compiler(spec, source, lines).compile()


class _Compiler:
    """Checks what the schema cannot (references, cells, step shapes), then compiles."""

    def __init__(self, spec: RoutingSpec, source: str, lines: Lines):
        self.spec = spec
        self.source = source
        self.lines = lines
        self.hub, self.operator_label = self.the_hub()

    def fail(self, message: str, loc: tuple[Any, ...]) -> InvalidFlow:
        return InvalidFlow(message, path=self.source, line=self.lines.nearest(loc))

    def compile(self) -> RoutingRules:
        spec = self.spec
        situations = self.situations()
        by_type, other = self.audience_types()
        rules = self.rules()
        return RoutingRules(
            source=self.source,
            situations=situations,
            audiences=tuple(spec.audiences),
            hub=self.hub,
            operator_label=self.operator_label,
            audience_by_type=by_type,
            other_audience=other,
            daytime=self.window("daytime", spec.windows.daytime),
            operator_line=self.window("operator_line", spec.windows.operator_line),
            numbers=dict(spec.numbers),
            categories=dict(spec.categories),
            forms=dict(spec.forms),
            channels=self.channels(),
            extra_closed_days=self.closed_days(),
            rules=rules,
            windows_used=_windows_used(rules, spec.audiences, spec.situations),
        )

    def situations(self) -> tuple[str, ...]:
        seen: list[str] = []
        for i, situation in enumerate(self.spec.situations):
            if situation in seen:
                raise self.fail(
                    f"situations: {situation!r} is listed twice; keep one", ("situations", i)
                )
            seen.append(situation)
        return tuple(seen)

    def the_hub(self) -> tuple[str, str]:
        labelled = [(n, a.label) for n, a in self.spec.audiences.items() if a.label is not None]
        if len(labelled) != 1:
            found = ", ".join(name for name, _ in labelled) or "none"
            raise self.fail(
                "audiences: give exactly one audience a `label` (the one plans go to when "
                f"no recipient is named); found {found}",
                ("audiences",),
            )
        name, label = labelled[0]
        return name, label or ""

    def audience_types(self) -> tuple[dict[OrgType, str], str]:
        by_type: dict[OrgType, str] = {}
        untyped = [name for name, a in self.spec.audiences.items() if not a.types]
        if len(untyped) != 1:
            raise self.fail(
                "audiences: exactly one audience lists no `types` (it takes every other "
                f"recipient); found {', '.join(untyped) or 'none'}",
                ("audiences",),
            )
        for name, audience in self.spec.audiences.items():
            for kind in audience.types:
                if kind in by_type:
                    raise self.fail(
                        f"audiences.{name}: type {kind.value!r} is listed by "
                        f"{by_type[kind]!r} already; list a type in one audience",
                        ("audiences", name),
                    )
                by_type[kind] = name
        return by_type, untyped[0]

    def window(self, name: str, window: WindowSpec) -> Window:
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

    def rules(self) -> dict[Cell, tuple[StepTemplate, ...]]:
        spec = self.spec
        cells: dict[Cell, tuple[StepTemplate, ...]] = {}
        for i, rule in enumerate(spec.rules):
            loc = ("rules", i)
            self.check_declared(rule, loc)
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
            for a in spec.audiences
            for s in spec.situations
            for w in WINDOW_NAMES
            if (a, s, w) not in cells
        ]
        if missing:
            raise self.fail(
                f"rules: no rule for {'; '.join(missing)}; add one (window: any covers both)",
                ("rules",),
            )
        return cells

    def check_declared(self, rule: RuleSpec, loc: tuple[Any, ...]) -> None:
        """Refuse a rule for an audience or a situation the file does not declare."""
        if rule.to not in self.spec.audiences:
            known = ", ".join(self.spec.audiences)
            raise self.fail(f"rules[{loc[1]}]: to {rule.to!r} is not an audience ({known})", loc)
        if rule.situation not in self.spec.situations:
            known = ", ".join(self.spec.situations)
            raise self.fail(
                f"rules[{loc[1]}]: situation {rule.situation!r} is not in situations ({known}); "
                "add it there or check its spelling",
                loc,
            )

    def step(self, rule: RuleSpec, index: tuple[int, int], step: StepSpec) -> StepTemplate:
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

    def check_shape(self, step: StepSpec, rule: RuleSpec, where: str, loc: tuple[Any, ...]) -> None:
        """Refuse a step that lacks what its action needs, or carries what it cannot use."""
        problem = shape_problem(step, rule, self.hub)
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
    rules: Mapping[Cell, tuple[StepTemplate, ...]],
    audiences: Mapping[str, Any],
    situations: list[str],
) -> dict[tuple[str, str], WindowsUsed]:
    used = {}
    for audience in audiences:
        for situation in situations:
            inside, outside = (rules[(audience, situation, w)] for w in WINDOW_NAMES)
            used[(audience, situation)] = WindowsUsed(
                daytime=inside != outside,
                operator_line=any(t.when is not None for t in inside + outside),
            )
    return used
