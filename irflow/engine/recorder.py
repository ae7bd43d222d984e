"""The recorder: one command's case row, event and effects, in one transaction.

Every command that writes (the commands of both kinds of flow, and the escalation
sweep) ends here: the event is built on the case's hash chain, and the row, the
event and its effects (deadlines, outbox rows, a fired rung) are written under the
row's optimistic version check. A command that loses a race with another writer
runs again on the case as it is now (``rerun_on_race``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from irflow.engine.flow import CLOSED
from irflow.engine.ledger import CaseRecord, Effects, EventRecord, Ledger, Then
from irflow.engine.registry import FlowRegistry
from irflow.engine.timeline import GENESIS, Event, dump_payload, event_hash, seal
from irflow.engine.views import CaseView
from irflow.errors import Conflict, FlowNotLoaded

RACE_RERUNS = 3
"""How many times a command is run again after another writer changed its case
between the command's read and its write."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


class Advanced:
    """The outcome of a command: the case's new state and version, and its event; with
    ``view`` asked of the command, the case as its actor sees it afterwards.

    The ``Event`` is built when first asked for: most callers look only at the state,
    and building it cost 4-8 µs a step of bench/advance.py's run.
    """

    __slots__ = ("_event", "_payload", "_record", "case_id", "state", "version", "view")

    def __init__(
        self,
        case_id: int,
        state: str,
        version: int,
        record: EventRecord,
        payload: dict[str, Any] | None = None,
        view: CaseView | None = None,
    ) -> None:
        """``payload`` is the record's payload as a dict, when it is at hand."""
        self.case_id = case_id
        self.state = state
        self.version = version
        self.view = view
        """The case as the actor sees it after the command, read in the command's own
        transaction (what a face shows); None unless the command was asked for it, or
        if the actor no longer takes part in the case (it handed its role over)."""
        self._record = record
        self._payload = payload
        self._event: Event | None = None

    @property
    def event(self) -> Event:
        if self._event is None:
            self._event = event_from_record(self._record, self._payload)
        return self._event

    def __repr__(self) -> str:
        return (
            f"Advanced(case_id={self.case_id}, state={self.state!r}, version={self.version}, "
            f"event={self.event!r})"
        )


class _Room(Protocol):
    """A room whose commands may be rerun: it knows the flows and has a logger."""

    @property
    def registry(self) -> FlowRegistry: ...

    @property
    def log(self) -> Any: ...


_RoomT = TypeVar("_RoomT", bound=_Room)


def rerun_on_race(
    command: Callable[Concatenate[_RoomT, _P], _R],
) -> Callable[Concatenate[_RoomT, _P], _R]:
    """Run a command again, from a fresh read, when another writer changed its case
    between the command's read and its write (an escalation sweep firing a rung, or
    another coordinator), or when it met a flow version not parsed yet (parsed then,
    outside the transaction).

    The rerun checks every rule again on the case as it is now, so it succeeds or
    fails exactly as the command would have alone. A caller that passed
    ``expect_version`` gets the conflict instead: the case is no longer the one it
    looked at.
    """

    @wraps(command)
    def run(room: _RoomT, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        races = 0
        while True:
            try:
                return command(room, *args, **kwargs)
            except FlowNotLoaded as missing:
                room.registry.version(missing.name, missing.version)
            except Conflict as conflict:
                if conflict.actual is not None or kwargs.get("expect_version") is not None:
                    raise
                races += 1
                if races > RACE_RERUNS:
                    raise
                room.log.info("command.rerun", command=command.__name__, case_id=conflict.case_id)

    return run


class Recorder:
    """Builds a case's next event and writes it with the row and its effects.

    With ``$IRFLOW_AUDIT_KEY`` set when the engine starts, every event is sealed under
    it (``timeline.seal``); the context reads the key once, and it is never written or logged.
    """

    def __init__(self, ledger: Ledger, key: bytes | None) -> None:
        self.ledger = ledger
        self._key = key

    def append(
        self,
        conn: Any,
        case: CaseRecord,
        *,
        at: datetime,
        actor: str | None,
        action: str,
        payload: dict[str, Any],
        step: str | None = None,
        from_state: str | None = None,
        note: str | None = None,
        effects: Effects | None = None,
        then: Then | None = None,
    ) -> EventRecord:
        """Append one event to ``case`` and write it with the case row (as the caller
        changed it; ``from_state`` is the state before, if it moved) and ``effects``, in
        one transaction under the version check; ``then`` reads in it before the commit.
        A ``Conflict`` if the case changed meanwhile: then nothing was written."""
        expected, before = case.version, from_state or case.state
        case.version += 1
        event = self.event(case.id, case.last_seq + 1, case.last_hash, at, actor, action, step,
                           before, case.state, note, payload)  # fmt: skip
        case.last_seq, case.last_hash = event.seq, event.hash
        closed_at = at if case.state == CLOSED and before != CLOSED else None
        if not self.ledger.apply(
            conn, case, expected_version=expected, closed_at=closed_at, event=event,
            effects=effects, then=then,
        ):  # fmt: skip
            raise lost_race(case.id, expected)
        return event

    def event(
        self,
        case_id: int,
        seq: int,
        prev_hash: str,
        at: datetime,
        actor: str | None,
        action: str,
        step: str | None,
        from_state: str | None,
        to_state: str | None,
        note: str | None,
        payload: dict[str, Any],
    ) -> EventRecord:
        """The event record that follows ``prev_hash`` on case ``case_id``'s chain."""
        payload_json = dump_payload(payload)
        prev = prev_hash or GENESIS
        digest = event_hash(
            case_id=case_id,
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            step=step,
            from_state=from_state,
            to_state=to_state,
            note=note,
            payload_json=payload_json,
            prev_hash=prev,
        )
        sealed = seal(self._key, digest) if self._key is not None else None
        return EventRecord(case_id, seq, at, actor, action, step, from_state, to_state, note,
                           payload_json, prev, digest, sealed)  # fmt: skip


def read_events(ledger: Ledger, conn: Any, case_id: int) -> list[Event]:
    """A case's timeline, read on ``conn`` (inside a command's transaction, or not)."""
    events = []
    for row in ledger.read_in(conn, "events", case_id):
        record = EventRecord(*row)
        record.at = ledger.read_moment(record.at)
        events.append(event_from_record(record))
    return events


def lost_race(case_id: int, expected: int) -> Conflict:
    """The case changed between the command's read and its write."""
    return Conflict(
        f"case {case_id} changed while this command ran (version {expected} is gone); "
        "look at `irflow case show` and try again",
        case_id=case_id,
        expected=expected,
        actual=None,
    )


def event_from_record(rec: EventRecord, payload: dict[str, Any] | None = None) -> Event:
    """An immutable ``Event`` from an event record, read or just written (then its
    ``payload`` is at hand and need not be parsed back)."""
    return Event(
        case_id=rec.case_id,
        seq=rec.seq,
        at=rec.at,
        actor=rec.actor_id,
        action=rec.action,
        step=rec.step,
        from_state=rec.from_state,
        to_state=rec.to_state,
        note=rec.note,
        payload=json.loads(rec.payload) if payload is None else payload,
        prev_hash=rec.prev_hash,
        hash=rec.hash,
    )
