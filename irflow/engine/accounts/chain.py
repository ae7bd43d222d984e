"""The security log's chain, made and checked with the timeline's own hash and seal.

The security log is chained as a case's timeline is, under case id 0, which no case
has: an event's hash is ``timeline.event_hash`` of (0, seq, moment, login as the actor,
action, organisation as the step, address as the state it came from, detail as the
payload) and the hash before it; with ``$IRFLOW_AUDIT_KEY`` each event is sealed by
``timeline.seal``, and ``timeline.check_chain`` checks both. The head row holds the
last event, as a case row does, so events removed from the end are found too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from irflow.engine.accounts.models import SecurityEvent, SecurityLogReport
from irflow.engine.ledger import EventRecord
from irflow.engine.timeline import GENESIS, check_chain, dump_payload, event_hash, seal

CHAIN_ID = 0
"""The case id the security log's events are hashed under: no case has it."""


def append_record(
    *,
    seq: int,
    prev_hash: str,
    at: datetime,
    action: str,
    login: str | None,
    org_id: str | None,
    address: str | None,
    detail: dict[str, Any],
    key: bytes | None,
) -> EventRecord:
    """The record of the event that follows ``prev_hash``, hashed and (with ``key``) sealed."""
    payload = dump_payload(detail)
    prev = prev_hash or GENESIS
    digest = event_hash(
        case_id=CHAIN_ID,
        seq=seq,
        at=at,
        actor=login,
        action=action,
        step=org_id,
        from_state=address,
        to_state=None,
        note=None,
        payload_json=payload,
        prev_hash=prev,
    )
    sealed = seal(key, digest) if key is not None else None
    return EventRecord(CHAIN_ID, seq, at, login, action, org_id, address, None, None, payload,
                       prev, digest, sealed)  # fmt: skip


def as_event(record: EventRecord) -> SecurityEvent:
    return SecurityEvent(
        seq=record.seq,
        at=record.at,
        action=record.action,
        login=record.actor_id,
        org_id=record.step,
        address=record.from_state,
        detail=json.loads(record.payload),
        prev_hash=record.prev_hash,
        hash=record.hash,
    )


def read_records(
    page: Callable[[int], list[tuple[Any, ...]]], record: Callable[[tuple[Any, ...]], EventRecord]
) -> Iterator[EventRecord]:
    """Every record, a page at a time: ``page(after)`` reads the rows after seq ``after``."""
    after = -(2**62)  # below any seq: an event slipped in with seq 0 is found too
    while True:
        rows = page(after)
        if not rows:
            return
        for row in rows:
            yield record(row)
        after = int(rows[-1][0])


def verify(
    records: Iterable[EventRecord], *, last_seq: int, last_hash: str, key: bytes | None
) -> SecurityLogReport:
    """Check the log's chain (and seals, with ``key``) and that it ends where its head
    says; name the first event that does not fit."""
    tracked = _Tracked(records)
    verdict = check_chain(tracked, last_seq=last_seq, last_hash=last_hash or GENESIS, key=key)
    seals = verdict.seals if key is not None else None
    if verdict.problem is None:
        return SecurityLogReport(events=verdict.events, ok=True, seals=seals)
    if not tracked.done:  # a bad event: check_chain stopped there
        return SecurityLogReport(events=verdict.events, ok=False, bad_seq=verdict.bad_seq,
                                 problem=verdict.problem, seals=seals)  # fmt: skip
    # Every event fits the one before it, but the chain does not end where the head says.
    count = tracked.count
    bad = count + 1 if count < last_seq else last_seq + 1 if count > last_seq else count
    ending = f" ending in {last_hash[:12]}" if last_hash else ""
    end = f" ending in {tracked.last[:12]}" if tracked.last else ""
    return SecurityLogReport(
        events=count,
        ok=False,
        bad_seq=bad,
        problem=f"the log's head records {last_seq} events{ending}; the log holds {count}{end} "
        f"(events removed, or added behind irflow's back)",
        seals=seals,
    )


class _Tracked:
    """The records, counted as they are read; ``done`` once the last one was read."""

    def __init__(self, records: Iterable[EventRecord]) -> None:
        self.records = records
        self.count = 0
        self.last = ""
        self.done = False

    def __iter__(self) -> Iterator[EventRecord]:
        for record in self.records:
            self.count += 1
            self.last = record.hash
            yield record
        self.done = True
