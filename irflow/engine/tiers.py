"""The tiers and the types of organisation, and what each may do: read from data.

``irflow/flows/tiers.yaml`` names the tiers an organisation acts in and the types of
organisation the directory holds, in order, and says what each may do: whom a tier's
overdue step is escalated to, which tiers may hand a case to another coordinator,
which types may report, coordinate or be assigned, how an organisation finds the one
of a type above it, and which type operates the network. The engine asks this module;
it spells none of those names itself.

The file is read once, when this module is first imported (``Tier`` and ``OrgType``
are built from it), and a broken one is refused with its line and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict

from irflow.engine.yamlfile import Lines, load_mapping, validate
from irflow.errors import InvalidFlow

BUNDLED_PATH = "irflow/flows/tiers.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierSpec(_Strict):
    """What organisations acting in one tier may do."""

    escalates_to: str | None = None
    """Whom its overdue step's ``notify`` rung tells: a tier of the case (its supervisor)."""
    assigns_coordinator: bool = False
    """It may hand a case to another coordinator (``irflow case assign``)."""


class TypeSpec(_Strict):
    """What an organisation of one type may do, and how the one of this type above
    another is found."""

    reports: bool = True
    """It may open an incident (be a case's reporter)."""
    coordinated_by: str | None = None
    """The type of its default coordinator; without it a case needs one named."""
    assignable: bool = False
    """A case's coordinator may be handed to it, in place of the default one."""
    named_by: str | None = None
    """The column in which an organisation names the one of this type above it."""
    operates: bool = False
    """The one organisation of this type is the operator of every case."""


class TiersSpec(_Strict):
    tiers: dict[str, TierSpec]
    case_tiers: tuple[str, ...]
    types: dict[str, TypeSpec]


def _hint(loc: tuple[Any, ...], error: Any) -> str:
    if error.get("type") == "extra_forbidden":
        return "; remove it or check its spelling"
    if error.get("type") == "missing":
        return "; add it"
    return ""


@dataclass(frozen=True)
class TiersFile:
    """A tiers file read and checked, with the lines its refusals point at."""

    spec: TiersSpec
    source: str
    lines: Lines

    def check_columns(self, columns: Iterable[str]) -> None:
        """Refuse a ``named_by`` that is not one of ``columns`` (the directory's columns
        that name another organisation), with its line."""
        known = list(columns)
        for name, spec in self.spec.types.items():
            if spec.named_by is not None and spec.named_by not in known:
                raise InvalidFlow(
                    f"type {name!r} is named_by {spec.named_by!r}, which is not a column "
                    f"that names an organisation; use one of {', '.join(known)}",
                    path=self.source,
                    line=self.lines.nearest(("types", name, "named_by")),
                )


def read(text: str, *, source: str) -> TiersFile:
    """A tiers file's text, checked: every name it uses is declared, a case holds three
    tiers, one type operates; refused with the file, the line and the fix (the columns
    ``named_by`` names are the directory's to check: ``TiersFile.check_columns``)."""
    data, lines = load_mapping(
        text, path=source, what="a tiers file is a YAML mapping of tiers, case_tiers and types"
    )
    spec = validate(TiersSpec, data, path=source, lines=lines, hint=_hint)

    def fail(message: str, *loc: Any) -> None:
        raise InvalidFlow(message, path=source, line=lines.nearest(loc))

    tiers, types = list(spec.tiers), list(spec.types)
    if len(spec.case_tiers) != 3 or len(set(spec.case_tiers)) != 3:
        fail(
            "case_tiers names the three tiers a case holds (who opened it, its coordinator, "
            f"the operator), each once; it names {list(spec.case_tiers)}",
            "case_tiers",
        )
    for i, tier in enumerate(spec.case_tiers):
        if tier not in spec.tiers:
            fail(
                f"case_tiers names {tier!r}, which is not a tier; the tiers are {tiers}",
                "case_tiers",
                i,
            )
    for name, tier_spec in spec.tiers.items():
        if name in spec.case_tiers and tier_spec.escalates_to is None:
            fail(f"tier {name!r} takes part in cases: say whom it escalates_to", "tiers", name)
        if tier_spec.escalates_to is not None and tier_spec.escalates_to not in spec.case_tiers:
            fail(
                f"tier {name!r} escalates to {tier_spec.escalates_to!r}; name a tier of a "
                f"case ({', '.join(spec.case_tiers)})",
                "tiers",
                name,
                "escalates_to",
            )
        if name not in spec.case_tiers and (
            tier_spec.escalates_to or tier_spec.assigns_coordinator
        ):
            fail(
                f"tier {name!r} takes part in no case; it escalates to nobody and assigns nothing",
                "tiers",
                name,
            )
    for name, type_spec in spec.types.items():
        if type_spec.coordinated_by is not None and type_spec.coordinated_by not in spec.types:
            fail(
                f"type {name!r} is coordinated by {type_spec.coordinated_by!r}, which is not "
                f"a type; the types are {types}",
                "types",
                name,
                "coordinated_by",
            )
    operating = [name for name, type_spec in spec.types.items() if type_spec.operates]
    if len(operating) != 1:
        where = ("types", operating[1], "operates") if operating else ("types",)
        fail(
            f"exactly one type operates the network; {len(operating)} say operates: true",
            *where,
        )
    return TiersFile(spec, source, lines)


def _bundled() -> TiersFile:
    text = resources.files("irflow").joinpath("flows", "tiers.yaml").read_text("utf-8")
    return read(text, source=BUNDLED_PATH)


BUNDLED = _bundled()
"""irflow/flows/tiers.yaml, read when this module is first imported."""
SPEC = BUNDLED.spec

Tier = StrEnum(  # type: ignore[misc]  # its members are the data's, unknown to mypy
    "Tier", [(name.upper(), name) for name in SPEC.tiers], module=__name__, qualname="Tier"
)
Tier.__doc__ = "The tier an organisation acts in by default (its role in a case may differ)."

OrgType = StrEnum(  # type: ignore[misc]  # its members are the data's, unknown to mypy
    "OrgType", [(name.upper(), name) for name in SPEC.types], module=__name__, qualname="OrgType"
)
OrgType.__doc__ = "What kind of body an organisation is."

CASE_TIERS: tuple[Tier, ...] = tuple(Tier(name) for name in SPEC.case_tiers)
"""The tiers a case of a flow of phases holds one organisation each of, in the order of
the case row's columns: who opened it, its coordinator, the operator."""

SUPERVISOR: Mapping[str, Tier] = {
    Tier(name): Tier(spec.escalates_to)
    for name, spec in SPEC.tiers.items()
    if spec.escalates_to is not None
}
"""Whom a tier's overdue step is escalated to."""

ASSIGNERS: frozenset[Tier] = frozenset(
    Tier(name) for name, spec in SPEC.tiers.items() if spec.assigns_coordinator
)
"""The tiers that may hand a case to another coordinator."""

TYPES: Mapping[OrgType, TypeSpec] = {OrgType(name): spec for name, spec in SPEC.types.items()}
"""What an organisation of each type may do."""

ASSIGNABLE: frozenset[OrgType] = frozenset(t for t, spec in TYPES.items() if spec.assignable)
"""The types a case's coordinator may be handed to, in place of the default one."""

COORDINATOR_TYPES: frozenset[OrgType] = ASSIGNABLE | {
    OrgType(spec.coordinated_by) for spec in TYPES.values() if spec.coordinated_by is not None
}
"""The types that may be a case's coordinator: a default one, or one assigned."""

OPERATING_TYPE: OrgType = next(t for t, spec in TYPES.items() if spec.operates)
"""The type whose one organisation is the operator of every case."""
