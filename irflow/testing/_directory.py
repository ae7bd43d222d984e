"""Whom the machines draw as actors: lists of the directory, picked once per machine class.

Who may receive (and be escalated to) in a chain flow is the engine's rule
(``irflow.engine.chain.reception``); this module only asks it, so that the machines
and the engine can never disagree about the directory's shape.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from irflow.engine import chain as chain_rules
from irflow.engine import tiers
from irflow.engine.directory import COORDINATOR_TYPES, Organisation, OrgType
from irflow.engine.facade import Engine
from irflow.engine.flow import Flow
from irflow.testing._doubles import MovableClock

#: An organisation id the directory does not have (every command must refuse it).
UNKNOWN_ORG = "no-such-organisation"

#: Picks at most ``limit`` organisations of the given types, spread over the directory.
Pick = Callable[[set[OrgType], int], list[Organisation]]


@dataclass
class Shared:
    """What every example of one machine class reuses: the engine and the directory."""

    engine: Engine
    clock: MovableClock
    reporters: list[str]
    """Organisations that can open a case without naming a coordinator."""
    has_default_coordinator: set[str]
    unusual_reporters: list[str]
    """Reporters that need a coordinator named, cannot report at all, or do not exist."""
    coordinators: list[str]
    """Every organisation a case may be opened with as its coordinator."""
    assignable: list[str]
    """Organisations a coordinator may be reassigned to, and some that may not be."""
    outsiders: list[str]
    askers: list[str]
    """Organisations that can open a case of a chain flow (they have a reception tier),
    a few of each type that can; for a flow without a chain, the reporters."""
    cannot_ask: list[str]
    """Organisations that cannot open a case of a chain flow, and one that does not exist."""
    everyone: list[str]
    """A spread of the directory, every type: who may look at, or act on, any case."""
    tmpdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)


def _types(*names: str) -> set[OrgType]:
    """The organisation types of these names (tiers.yaml's)."""
    return {OrgType(name) for name in names}


def reception_of(flow: Flow, org_id: str, orgs: Mapping[str, Organisation]) -> str | None:
    """Whom ``org_id`` asks first (and escalates to) in a chain flow, by the engine's
    rule; None if nobody, if there is no such organisation, or if the flow has no chain."""
    org = orgs.get(org_id)
    if org is None or flow.spec.chain is None:
        return None
    return chain_rules.reception(flow, org, orgs)


def shared_lists(
    flow: Flow,
    engine: Engine,
    clock: MovableClock,
    tmpdir: tempfile.TemporaryDirectory[str] | None,
) -> Shared:
    """The directory lists a machine of ``flow`` draws its actors from."""
    directory = engine.organisations()
    orgs = sorted(directory.values(), key=lambda o: o.id)

    def pick(kinds: set[OrgType], limit: int) -> list[Organisation]:
        found = [o for o in orgs if o.type in kinds]
        step = max(1, len(found) // limit)
        return found[::step][:limit]

    reporters = [
        o.id
        for o in pick(_types("municipality", "prefecture"), 8)
        if engine.default_coordinator(o) is not None
    ]
    others = pick(_types("national_agency", "ministry", "aggregation_agency"), 4)
    cannot = pick({t for t, spec in tiers.TYPES.items() if not spec.reports}, 2)
    coordinators = [o.id for o in orgs if o.type in COORDINATOR_TYPES]
    assignable = [o.id for o in pick(set(tiers.ASSIGNABLE), 6)]
    wrong = [o.id for o in pick(_types("municipality", "prefecture", "jlis"), 3)]
    outsiders = [o.id for o in pick(set(OrgType), 6)]
    # A ministry may report too (it is an information querier); it then needs a
    # coordinator named, and must never be reassigned as its own coordinator.
    reporting_ministries = assignable[:2]
    unusual_reporters = sorted(
        {*reporting_ministries, *(o.id for o in others + cannot), UNKNOWN_ORG}
    )
    if flow.is_chain:
        askers, cannot_ask = chain_askers(flow, directory, pick)
    else:
        askers, cannot_ask = reporters, unusual_reporters
    receivers = (o.id for o in orgs if o.type in _types("jlis", "operator"))
    everyone = sorted({*askers, *outsiders, *receivers, *cannot_ask} - {UNKNOWN_ORG})
    return Shared(
        engine=engine,
        clock=clock,
        reporters=reporters,
        has_default_coordinator={o.id for o in orgs if engine.default_coordinator(o)},
        unusual_reporters=unusual_reporters,
        coordinators=coordinators[::3],
        assignable=[*assignable, *wrong, UNKNOWN_ORG],
        outsiders=outsiders,
        askers=askers,
        cannot_ask=cannot_ask,
        everyone=everyone,
        tmpdir=tmpdir,
    )


def chain_askers(
    flow: Flow, directory: Mapping[str, Organisation], pick: Pick
) -> tuple[list[str], list[str]]:
    """A few organisations of every type that can ask in a chain flow (and the
    receivers of the first ones, who ask too), those with the longest way up the
    chain first; and a few that cannot ask."""

    def climb(org_id: str) -> int:
        seen = [org_id]
        while (above := reception_of(flow, seen[-1], directory)) and above not in seen:
            seen.append(above)
        return len(seen)

    assert flow.spec.chain is not None
    reception = flow.spec.chain.reception
    types = {t for t in OrgType if t.value in reception}
    found = [o.id for t in sorted(types) for o in pick({t}, 3)]
    receivers = [reception_of(flow, o, directory) for o in found]
    candidates = dict.fromkeys([*found, *(r for r in receivers if r is not None)])
    askers = sorted(
        (o for o in candidates if reception_of(flow, o, directory) is not None),
        key=lambda o: (-climb(o), o),
    )
    cannot = [o.id for o in pick(set(OrgType) - types, 3)]
    cannot += [o for o in candidates if o not in askers]
    return askers, sorted({*cannot, UNKNOWN_ORG})
