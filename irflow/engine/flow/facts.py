"""What a case's conditions look at: its facts, the named guards, and the model object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class CaseFacts:
    """What a guard may look at: the case's kinds, declared flags and done steps, and
    for a chain, where its holder stands."""

    kinds: frozenset[str]
    flags: frozenset[str]
    done: dict[str, Any] = field(default_factory=dict)
    at_opener: bool = False
    """The chain's holder is its opener (an answer came all the way down)."""
    at_top: bool = False
    """The chain's holder has nobody above it to escalate to."""


Guard = Callable[[CaseFacts], bool]


def _guard_kind(arg: str) -> Guard:
    return lambda facts: arg in facts.kinds


def _guard_flag(arg: str) -> Guard:
    return lambda facts: arg in facts.flags


def _guard_chain(arg: str) -> Guard:
    if arg == "top":
        return lambda facts: facts.at_top
    return lambda facts: facts.at_opener


CHAIN_GUARDS = ("top", "at_opener")

#: Named guard families a flow file may use: ``kind:<kind>``, ``flag:<flag>`` and
#: ``chain:top`` / ``chain:at_opener``; ``not <guard>`` negates one.
GUARD_FAMILIES: dict[str, Callable[[str], Guard]] = {
    "kind": _guard_kind,
    "flag": _guard_flag,
    "chain": _guard_chain,
}


class CaseModel:
    """The plain object the shared machine drives for one case (never a DB row)."""

    __slots__ = ("facts", "state")

    def __init__(self, state: str, facts: CaseFacts) -> None:
        self.state = state
        self.facts = facts


def compile_guard(name: str) -> Guard:
    """The guard a condition of a flow file names (checked by ``checks.py`` first)."""
    if name.startswith("not "):
        inner = compile_guard(name[4:].strip())
        return lambda facts: not inner(facts)
    family, _, arg = name.partition(":")
    return GUARD_FAMILIES[family](arg)
