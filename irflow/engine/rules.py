"""The rules: who takes part in a case, in which role, and who may see it.

One place decides, for every command and query: the participants of a case are its
three tiers (a flow of phases) or the links its chain reached (a flow of states);
a case of a private flow does not exist for anyone else (the same words as a number
never used); a participant acting outside its role is not allowed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from irflow.engine import chain as chain_rules
from irflow.engine.directory import Directory, Organisation
from irflow.engine.flow import Flow, Step
from irflow.engine.ledger import CaseRecord
from irflow.errors import NotAllowed, NotFound

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement


def participants(case: CaseRecord) -> dict[str, str]:
    """The organisation in each tier of a case (a flow of phases)."""
    return {
        "reporter": case.reporter_id,
        "coordinator": case.coordinator_id,
        "operator": case.operator_id,
    }


def participant_ids(case: CaseRecord) -> list[str]:
    """Who takes part in a case: its chain's links, or its three tiers."""
    return chain_rules.links(case.chain) or list(participants(case).values())


def no_case(case_id: int) -> NotFound:
    """The refusal for a case that does not exist, or that the asker may not see:
    the same words either way, so a refusal tells nothing."""
    return NotFound(f"no case {case_id}; `irflow case list` shows the cases")


def roles(case: CaseRecord, org: Organisation, flow: Flow, directory: Directory) -> list[str]:
    """The roles ``org`` holds in ``case``; refused if it holds none."""
    if case.chain:
        return _chain_roles(case, org, flow)
    pairs = participants(case)
    held = [role for role, holder in pairs.items() if holder == org.id]
    if held:
        return held
    if flow.private:
        raise no_case(case.id)
    names = ", ".join(f"{role} {directory.name(holder)}" for role, holder in pairs.items())
    raise NotAllowed(f"{org.name} is not a participant of case {case.id} ({names})")


def _chain_roles(case: CaseRecord, org: Organisation, flow: Flow) -> list[str]:
    """A chain's participants are the links it reached: the opener, the holder, and
    the receivers it passed. Anyone else learns nothing of a private case."""
    chain = chain_rules.links(case.chain)
    if org.id not in chain:
        if flow.private:
            raise no_case(case.id)
        raise NotAllowed(f"{org.name} is not a participant of case {case.id}")
    held = ["opener"] if chain[0] == org.id else []
    if chain[case.chain_at] == org.id:
        held.append("holder")
    return held or ["receiver"]


def visible(case: CaseRecord, flow: Flow, viewer: str | None) -> bool:
    """Whether the organisation with id ``viewer`` may see the case: anyone a case of
    a public flow, only its participants a private one (no viewer: public cases only)."""
    if not flow.private:
        return True
    return viewer is not None and viewer in participant_ids(case)


def visible_where(private: Collection[tuple[str, int]], viewer: str | None) -> ColumnElement[bool]:
    """``visible`` as a condition on the case table, so that a list reads only the
    rows it shows: ``private`` are the (flow, version) pairs whose flow is private.

    A chain is matched as ``,id,`` inside ``,chain,`` with ``replace``, which is
    case-sensitive on every backend (SQLite's LIKE is not) and needs no escaping."""
    from sqlalchemy import and_, func, literal, not_, or_, true
    from sqlmodel import col

    from irflow.engine.tables import CaseRow

    if not private:
        return true()
    flow, version = col(CaseRow.flow), col(CaseRow.flow_version)
    in_private = or_(*(and_(flow == f, version == v) for f, v in sorted(private)))
    if viewer is None:
        return not_(in_private)
    chain = col(CaseRow.chain)
    wrapped = literal(",") + chain + literal(",")
    in_tiers = or_(
        col(CaseRow.reporter_id) == viewer,
        col(CaseRow.coordinator_id) == viewer,
        col(CaseRow.operator_id) == viewer,
    )
    in_chain = func.replace(wrapped, f",{viewer},", "") != wrapped
    return or_(not_(in_private), and_(chain == "", in_tiers), and_(chain != "", in_chain))


def not_your_step(
    case: CaseRecord, org: Organisation, held: list[str], step: Step, directory: Directory
) -> NotAllowed:
    """The refusal for a participant doing a step of another tier."""
    who = participants(case)[step.tier]
    return NotAllowed(
        f"step {step.id!r} belongs to tier {step.tier!r}; {org.name} is the "
        f"{'/'.join(held)} of case {case.id}; {directory.name(who)} may do it"
    )
