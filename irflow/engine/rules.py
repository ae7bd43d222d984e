"""The rules: who takes part in a case, in which role, and who may see it: the gate.

One place decides, for every command and query. Each is made for a viewer: an
organisation, or the explicit ``SYSTEM`` viewer (the daemon's sweeps and outbox,
``irflow init``, the local database's administrator), who sees everything.

- The participants of a case are its three tiers (a flow of phases: the operator
  takes part in every incident) or the links its chain reached (a flow of states;
  the tier told about an overdue inquiry joins its chain).
- To anyone else a case does not exist: the same error, in the same words, as a
  number never used.
- A participant acting outside its role is not allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, final

from irflow.engine import chain as chain_rules
from irflow.engine.directory import Directory, Organisation
from irflow.engine.flow import TIERS, Step
from irflow.engine.ledger import CaseRecord
from irflow.errors import NoSuchCase, NotAllowed

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement


@final
class SystemViewer:
    """The system itself as a viewer: sees every case. Only ``SYSTEM`` exists."""

    _made = False

    def __new__(cls) -> SystemViewer:
        if cls._made:
            raise TypeError("use irflow.SYSTEM; there is one system viewer")
        cls._made = True
        return super().__new__(cls)

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM: Final = SystemViewer()
"""The explicit system viewer: the daemon, ``irflow init``, the database's administrator."""

Viewer = str | SystemViewer
"""Whom a read is made for: an organisation (id, code or unambiguous name) or ``SYSTEM``."""


def participants(case: CaseRecord) -> dict[str, str]:
    """The organisation in each tier of a case (a flow of phases): the one place that
    pairs the tiers with the case row's three columns."""
    held = (case.reporter_id, case.coordinator_id, case.operator_id)
    return dict(zip(TIERS, held, strict=True))


def held_by(tiers: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """The case row's reporter_id, coordinator_id and operator_id from the organisation
    of each tier, as a case's ``opened`` event names them (``participants`` undone)."""
    reporter, coordinator, operator = (tiers[tier] for tier in TIERS)
    return reporter, coordinator, operator


def participant_ids(case: CaseRecord) -> list[str]:
    """Who takes part in a case: its chain's links, or its three tiers."""
    return chain_rules.links(case.chain) or list(participants(case).values())


def no_case(case_id: int) -> NoSuchCase:
    """The refusal for a case that does not exist, or that the asker may not see:
    the same words either way, so a refusal tells nothing."""
    return NoSuchCase(f"no case {case_id}; `irflow case list` shows the cases", case_id=case_id)


def roles(case: CaseRecord, org: Organisation) -> list[str]:
    """The roles ``org`` holds in ``case``; refused if it holds none."""
    if case.chain:
        return _chain_roles(case, org)
    pairs = participants(case)
    held = [role for role, holder in pairs.items() if holder == org.id]
    if not held:
        raise no_case(case.id)
    return held


def _chain_roles(case: CaseRecord, org: Organisation) -> list[str]:
    """A chain's participants are the links it reached: the opener, the holder, and
    the receivers it passed."""
    chain = chain_rules.links(case.chain)
    if org.id not in chain:
        raise no_case(case.id)
    held = ["opener"] if chain[0] == org.id else []
    if chain[case.chain_at] == org.id:
        held.append("holder")
    return held or ["receiver"]


def visible(case: CaseRecord, viewer: str | SystemViewer) -> bool:
    """Whether ``viewer`` (an organisation's id, or ``SYSTEM``) may see the case."""
    return viewer is SYSTEM or viewer in participant_ids(case)


def check_visible(case: CaseRecord, viewer: str | SystemViewer) -> None:
    """Refuse a case ``viewer`` may not see, as if it did not exist."""
    if not visible(case, viewer):
        raise no_case(case.id)


def visible_where(viewer: str | SystemViewer) -> ColumnElement[bool]:
    """``visible`` as a condition on the case table, so that a list reads only the
    rows it shows.

    A chain is matched as ``,id,`` inside ``,chain,`` with ``replace``, which is
    case-sensitive on every backend (SQLite's LIKE is not) and needs no escaping."""
    from sqlalchemy import and_, func, literal, or_, true
    from sqlmodel import col

    from irflow.engine.tables import CaseRow

    if isinstance(viewer, SystemViewer):
        return true()
    chain = col(CaseRow.chain)
    wrapped = literal(",") + chain + literal(",")
    in_tiers = or_(
        col(CaseRow.reporter_id) == viewer,
        col(CaseRow.coordinator_id) == viewer,
        col(CaseRow.operator_id) == viewer,
    )
    in_chain = func.replace(wrapped, f",{viewer},", "") != wrapped
    return or_(and_(chain == "", in_tiers), and_(chain != "", in_chain))


def not_your_step(
    case: CaseRecord, org: Organisation, held: list[str], step: Step, directory: Directory
) -> NotAllowed:
    """The refusal for a participant doing a step of another tier."""
    who = participants(case)[step.tier]
    return NotAllowed(
        f"step {step.id!r} belongs to tier {step.tier!r}; {org.name} is the "
        f"{'/'.join(held)} of case {case.id}; {directory.name(who)} may do it"
    )
