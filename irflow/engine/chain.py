"""Chains of participants: a case that travels up reception tiers and back down.

A flow with ``chain:`` (the inquiry) keeps on its case row the organisations the
case has reached, in order, the opener first (``CaseRecord.chain``), and which of
them holds it now (``chain_at``). Its actions move the holder: ``up`` to the next
reception tier (added to the chain the first time it is reached), ``down`` one link
back towards the opener, ``first`` to the first receiver again. Whom an
organisation reaches is data: the flow's ``chain.reception`` names, for each type
of organisation, the type above it (its own prefecture, J-LIS or the operator),
found as the directory finds a coordinator (``directory.above``).

Everything here is pure: the engine reads the case and the directory, these
functions say what the chain becomes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from irflow.clock import JST
from irflow.engine.directory import Organisation, above
from irflow.engine.flow import CaseFacts, Flow
from irflow.engine.phrases import PhraseBook
from irflow.engine.timeline import Event
from irflow.errors import InvalidInput

_WORDING = PhraseBook("chain", {"follow_up": ("title", "at", "note")})


def links(text: str) -> list[str]:
    """The chain stored on a case row, as organisation ids."""
    return [t for t in text.split(",") if t]


def reception(flow: Flow, org: Organisation, orgs: Mapping[str, Organisation]) -> str | None:
    """The id of the organisation ``org``'s cases reach first (and it escalates to);
    None if nobody is above it."""
    assert flow.spec.chain is not None
    kind = flow.spec.chain.reception.get(org.type)
    found = above(org, kind, orgs) if kind is not None else None
    return found.id if found is not None else None


def start(flow: Flow, opener: Organisation, orgs: Mapping[str, Organisation]) -> list[str]:
    """The chain of a case ``opener`` opens: itself and its reception tier."""
    first = reception(flow, opener, orgs)
    if first is None:
        raise InvalidInput(
            f"{opener.name} ({opener.type.value}) has nobody to ask in flow {flow.name!r}: "
            "its cases go to the reception tier above it, and it has none"
        )
    return [opener.id, first]


def move(
    flow: Flow, how: str, chain: list[str], at: int, orgs: Mapping[str, Organisation]
) -> tuple[list[str], int]:
    """The chain and holder after a move (``stay``, ``up``, ``down``, ``first``)."""
    if how == "up":
        if at + 1 < len(chain):
            return chain, at + 1
        above = reception(flow, orgs[chain[at]], orgs)
        if above is None or above in chain:
            raise InvalidInput(f"{orgs[chain[at]].name} has no reception tier to escalate to")
        return [*chain, above], at + 1
    if how == "down":
        return chain, max(at - 1, 0)
    if how == "first":
        return chain, 1
    return chain, at


def facts(
    flow: Flow, base: CaseFacts, chain: Sequence[str], at: int, orgs: Mapping[str, Organisation]
) -> CaseFacts:
    """The case's facts with where its holder stands (the chain guards' inputs)."""
    holder = orgs.get(chain[at]) if chain else None
    above = chain[at + 1] if at + 1 < len(chain) else None
    if above is None and holder is not None:
        above = reception(flow, holder, orgs)
    return CaseFacts(
        kinds=base.kinds,
        flags=base.flags,
        done=base.done,
        at_opener=at == 0,
        at_top=above is None,
    )


def supervisor(flow: Flow, chain: Sequence[str], at: int, orgs: Mapping[str, Organisation]) -> str:
    """Whom an overdue holder's own reception tier is: the link above it, else the
    holder itself (nobody is above the top)."""
    if at + 1 < len(chain):
        return chain[at + 1]
    holder = orgs.get(chain[at])
    above = reception(flow, holder, orgs) if holder is not None else None
    return above or chain[at]


# ----------------------------------------------------------------------------- the form


@dataclass(slots=True)
class _Hop:
    receiver: str
    received_at: datetime
    escalated_at: datetime | None = None


def form_data(
    flow: Flow,
    case_id: int,
    title: str,
    events: Sequence[Event],
    names: Mapping[str, str],
    *,
    contact: str = "",
) -> dict[str, Any]:
    """The inquiry form's data (``forms.InquiryFormContext`` as JSON) as the timeline
    leaves it: the question and follow-ups, each receiver in the order it was first
    reached (with when it escalated), and the latest answer."""
    opened = events[0]
    chain = list(opened.payload.get("chain", ()))
    body = opened.note or ""
    hops: dict[str, _Hop] = {}
    if len(chain) > 1:
        hops[chain[1]] = _Hop(chain[1], opened.at)
    answer: tuple[str, str, datetime] | None = None
    for ev in events[1:]:
        if ev.action != "action_taken" or ev.step not in flow.actions:
            continue
        action = flow.actions[ev.step]
        to = ev.payload.get("to")
        if action.move == "up" and ev.actor is not None:
            hop = hops.get(ev.actor)
            if hop is not None:
                hop.escalated_at = ev.at
        if action.move in ("up", "first") and isinstance(to, str) and to not in hops:
            hops[to] = _Hop(to, ev.at)
        if action.asks and ev.note:
            asked = ev.at.astimezone(JST).isoformat(timespec="minutes")
            body += _WORDING.fill("follow_up", title=action.title, at=asked, note=ev.note)
        if action.answers and ev.actor is not None:
            answer = (ev.note or "", ev.actor, ev.at)

    def iso(moment: datetime | None) -> str | None:
        # Japan time, as a person reads the form; moments read back are in UTC.
        return moment.astimezone(JST).isoformat() if moment is not None else None

    return {
        "inquiry_id": case_id,
        "title": title,
        "asker": names.get(chain[0], chain[0]) if chain else "",
        "asked_at": iso(opened.at),
        "body": body,
        "faq_checked": bool(opened.payload.get("confirmed")),
        "asker_contact": contact,
        "hops": [
            {
                "receiver": names.get(h.receiver, h.receiver),
                "received_at": iso(h.received_at),
                "escalated_at": iso(h.escalated_at),
                "note": "",
            }
            for h in hops.values()
        ],
        "answer": answer[0] if answer else None,
        "answered_by": names.get(answer[1], answer[1]) if answer else None,
        "answered_at": iso(answer[2]) if answer else None,
    }
