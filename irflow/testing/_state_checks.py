"""The invariants of a case of a flow of states and actions, read back from the
engine: its chain, its timeline replayed through the model, its deadlines, its
messages, and who may see it."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

from sqlalchemy import text

from irflow.engine.facade import Engine
from irflow.engine.flow import Flow
from irflow.engine.rules import SYSTEM, Viewer
from irflow.engine.timeline import Event
from irflow.engine.views import CaseView
from irflow.errors import NotFound
from irflow.testing._chain_model import ChainModel, Held, Moved
from irflow.testing._directory import UNKNOWN_ORG
from irflow.testing._machine import attempt

_HELD = text(
    "SELECT state, version, reporter_id, coordinator_id, operator_id, chain, chain_at, kinds, "
    "flags, (SELECT at FROM timeline_event WHERE case_id = :id ORDER BY seq DESC LIMIT 1) "
    "FROM irflow_case WHERE id = :id"
)
_OUTBOX = text("SELECT event_seq, recipients FROM outbox WHERE case_id = :id")


def read_held(engine: Engine, case_id: int) -> Held:
    """The case row as the model sees it."""
    with engine.sa.connect() as conn:
        row = conn.execute(_HELD, {"id": case_id}).one()
    (state, version, reporter, coordinator, operator, chain, chain_at, kinds, flags,
     last_at) = row  # fmt: skip
    return Held(
        state=state,
        version=int(version),
        participants=(reporter, coordinator, operator),
        links=tuple(t for t in chain.split(",") if t),
        at=int(chain_at),
        kinds=frozenset(t for t in kinds.split(",") if t),
        flags=frozenset(t for t in flags.split(",") if t),
        last_at=engine.ledger.read_moment(last_at),
    )


def read_outbox(engine: Engine, case_id: int) -> list[tuple[int, list[str]]]:
    """Each queued message of the case: its event's seq and its recipients."""
    with engine.sa.connect() as conn:
        rows = conn.execute(_OUTBOX, {"id": case_id}).all()
    return [(int(seq), list(json.loads(to))) for seq, to in rows]


def check_chain(model: ChainModel, held: Held, view: CaseView) -> None:
    """The asker, then each next reception tier, no one twice; the holder is a link."""
    links = held.links
    if not model.flow.is_chain:
        assert not links, f"a chainless case has chain {links}"
        assert view.holder is None
        return
    assert links[:1] == (held.asker,), f"the chain {links} does not start with its asker"
    assert len(set(links)) == len(links), f"the chain {links} repeats a link"
    for lower, upper in itertools.pairwise(links):
        assert upper == model.above(lower), (
            f"in chain {links}, {upper} follows {lower}, whose reception tier is "
            f"{model.above(lower)}"
        )
    assert 0 <= held.at < len(links), f"holder index {held.at} is outside chain {links}"
    assert [o.id for o in view.chain] == list(links)
    assert view.holder is not None
    assert view.holder.id == links[held.at]


def check_timeline(model: ChainModel, held: Held, view: CaseView) -> None:
    """Each action on the timeline is one the flow allowed then, by the link that
    could do it, and together they lead to the case's row; escalations tell only
    the holder or its reception tier."""
    opened = view.timeline[0]
    assert opened.action == "opened"
    assert opened.to_state == model.flow.states[0]
    payload = opened.payload
    links = tuple(str(o) for o in payload.get("chain", ()))
    case = Held(
        state=model.flow.states[0],
        version=1,
        participants=(str(payload["reporter"]), str(payload["coordinator"]),
                      str(payload["operator"])),
        links=links,
        at=1 if links else 0,
        kinds=held.kinds,
        flags=frozenset(),
        last_at=opened.at,
    )  # fmt: skip
    for ev in view.timeline[1:]:
        if ev.action == "action_taken":
            assert ev.actor is not None
            assert ev.step is not None
            moved = model.predict(case, ev.step, ev.actor, ev.note, ev.at, None)
            assert isinstance(moved, Moved), (
                f"event {ev.seq}, {ev.step} by {ev.actor} in {case.state} with the case "
                f"held by {case.holder}, is one the flow refuses ({moved.__name__})"
            )
            assert (ev.from_state, ev.to_state) == (case.state, moved.state)
            to = moved.links[moved.at] if moved.links else None
            assert (ev.payload.get("from"), ev.payload.get("to")) == (case.holder, to)
            case = replace(case, state=moved.state, links=moved.links, at=moved.at)
        elif ev.action == "escalated":
            assert ev.step == ev.from_state == ev.to_state == case.state in model.flow.duties
            case = rung_fired(model, case, ev)
        else:
            assert not model.flow.is_chain, f"a chain case has a {ev.action!r} event"
            assert ev.from_state == ev.to_state == case.state
            if ev.action == "coordinator_assigned":
                reporter, _, operator = case.participants
                case = replace(case, participants=(reporter, str(ev.payload["to"]), operator))
            case = replace(case, flags=case.flags | set(ev.payload.get("declared", ())))
        assert ev.at >= case.last_at, f"event {ev.seq} is dated before the one before it"
        case = replace(case, last_at=ev.at)
    assert (case.state, case.links, case.at) == (held.state, held.links, held.at), (
        f"the timeline leads to {case.state} with chain {case.links} held at {case.at}; "
        f"the case row says {held.state}, {held.links}, {held.at}; the timeline: "
        + "; ".join(f"{e.seq} {e.action} {e.step} by {e.actor} {e.payload}" for e in view.timeline)
    )


def rung_fired(model: ChainModel, case: Held, ev: Event) -> Held:
    """A rung reminds the holder, or tells its reception tier, which joins the chain
    (so that it may read the case it is told about) if it is not a link yet."""
    told = list(ev.payload.get("told", ()))
    rung = ev.payload.get("action")
    wanted = {"remind": [case.holder], "notify": [model.supervisor(case)]}.get(str(rung), [])
    assert told == wanted, f"a {rung} rung told {told}, not {wanted}"
    joins = rung == "notify" and model.flow.is_chain and wanted[0] not in case.links
    reached = ev.payload.get("reached")
    assert reached == (wanted[0] if joins else None), (
        f"a {rung} rung telling {told} brought the case to {reached}"
    )
    return replace(case, links=(*case.links, wanted[0])) if joins else case


def check_deadlines(flow: Flow, held: Held, view: CaseView) -> None:
    """Rows for exactly the current state's duty, its whole ladder, since it was entered."""
    rungs: dict[str, set[int]] = {}
    for d in view.deadlines:
        rungs.setdefault(d.step, set()).add(d.rung)
    duty = flow.duties.get(held.state)
    wanted = {held.state: {r.number for r in duty.ladder}} if duty else {}
    assert rungs == wanted, f"case {view.id} in {held.state} has deadlines {rungs}, not {wanted}"
    entered = [e for e in view.timeline if e.action in ("opened", "action_taken")][-1]
    for d in view.deadlines:
        assert d.opened_at == entered.at, (
            f"the {d.step} deadline runs from {d.opened_at}; the case entered "
            f"{held.state} at {entered.at}"
        )


def check_messages(flow: Flow, outbox: list[tuple[int, list[str]]], view: CaseView) -> None:
    """The ask and each action that tells the holder queued messages to the new
    holder only; a rung to whom it told; nothing else queued anything."""
    events = {e.seq: e for e in view.timeline}
    queued: dict[int, list[list[str]]] = {}
    for seq, to in outbox:
        queued.setdefault(seq, []).append(to)
    for seq, event in events.items():
        if event.action == "opened":
            chain = event.payload.get("chain", ())
            tells = [str(chain[1])] if chain and flow.spec.opening else None
        elif event.action == "action_taken" and event.step in flow.actions:
            notifies = flow.actions[event.step].notify == "holder"
            holder = event.payload.get("to")
            tells = [str(holder)] if notifies and flow.is_chain else None
        elif event.action == "escalated":
            tells = [str(t) for t in event.payload.get("told", ())] or None
        else:
            continue
        got = queued.pop(seq, [])
        if tells is None:
            assert not got, f"event {seq} ({event.action}) queued messages to {got}"
        else:
            assert got, f"event {seq} ({event.action}) queued nothing; it tells {tells}"
            assert all(to == tells for to in got), (
                f"event {seq} ({event.action} {event.step or ''}) queued {got}, "
                f"not one message per channel to {tells}"
            )
    if flow.is_chain:
        assert not queued, f"messages of case {view.id} belong to no event: {queued}"


def check_visibility(
    engine: Engine, flow: Flow, everyone: list[str], case_id: int, held: Held
) -> None:
    """Members (and the system) see the case; anyone else is told it does not exist.
    The case list (slower: it grows with every example) is read once a check, in turn
    by the holder, the system, and an outsider."""
    engine.case(case_id, viewer=SYSTEM)
    for member in sorted(held.members):
        engine.case(case_id, viewer=member)
    outsiders = [o for o in everyone if o not in held.members]
    missing = missing_case(engine, case_id)
    for viewer in outsiders:
        check_hidden(engine, case_id, viewer, missing)
    listers: list[Viewer] = [held.holder, SYSTEM, *outsiders[:1]]
    lister = listers[held.version % len(listers)]
    listed = listed_to(engine, case_id, lister)
    assert listed == (lister in (held.holder, SYSTEM)), (
        f"{lister} {'finds' if listed else 'misses'} case {case_id} in its list"
    )


# ------------------------------------------------------------ a case that must look missing


def hidden_from(flow: Flow, held: Held, org_id: str) -> bool:
    """Whether the case must look missing to ``org_id`` (an organisation outside it)."""
    return org_id != UNKNOWN_ORG and org_id not in held.members


def check_hidden(engine: Engine, case_id: int, viewer: str, missing: str) -> None:
    """``viewer``, an organisation outside the case, is told there is no such case, in
    the words ``missing`` a missing case gets."""
    shown = attempt(lambda: engine.case(case_id, viewer=viewer))
    assert isinstance(shown, NotFound), f"{viewer or 'nobody'} was shown case {case_id}"
    assert str(shown) == missing, (
        f"{viewer or 'nobody'} was told {shown}, not what a missing case tells"
    )


def missing_case(engine: Engine, case_id: int) -> str:
    """What the engine tells about case ``case_id`` if there were no such case."""
    nowhere = 2_000_000_000 + case_id
    told = attempt(lambda: engine.case(nowhere, viewer=SYSTEM))
    assert isinstance(told, NotFound), f"case {nowhere} exists"
    return str(told).replace(str(nowhere), str(case_id))


def listed_to(engine: Engine, case_id: int, viewer: Viewer) -> bool:
    """Whether ``viewer``'s case list holds the case: the page of one after the number
    before it (a list is paged; this reads the one row, however many cases)."""
    page = engine.cases(viewer=viewer, after=case_id - 1, limit=1)
    return [c.id for c in page] == [case_id]
