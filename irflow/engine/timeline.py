"""The timeline: immutable events, each hash-chained to the one before it.

An event's hash covers all its content (case, sequence number, moment, actor,
action, step, states, note, payload) and the previous event's hash, so changing,
removing or reordering any event breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
"""The ``prev_hash`` of a case's first event."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """One entry of a case's timeline; immutable, with a timezone-aware moment."""

    case_id: int
    seq: int
    at: datetime
    actor: str | None
    action: str
    step: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    note: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "step": self.step,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "note": self.note,
            "payload": dict(self.payload),
            "hash": self.hash,
            "prev_hash": self.prev_hash,
        }


def canonical_moment(at: datetime) -> str:
    """The moment as hashed: UTC, microseconds, so every backend gives the same text."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


class OneShotEncoder(json.JSONEncoder):
    """A ``JSONEncoder`` whose ``encode`` reuses one C encoder.

    ``JSONEncoder.encode`` builds a new C encoder (and a float formatter) on every
    call: 2 µs of the 1.4-4 µs a hot-path column took (bench/advance.py). No
    circular-reference check: the hot path encodes plain trees (a cycle would end in
    RecursionError, not ValueError).
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        make = getattr(json.encoder, "c_make_encoder", None)  # None without _json
        escape = (
            json.encoder.encode_basestring_ascii
            if self.ensure_ascii
            else json.encoder.encode_basestring
        )
        self._chunks: Callable[[Any, int], Any] | None = (
            None
            if make is None or self.indent is not None
            else make(
                None,
                self.default,
                escape,
                None,
                self.key_separator,
                self.item_separator,
                self.sort_keys,
                self.skipkeys,
                self.allow_nan,
            )
        )

    def encode(self, o: Any) -> str:
        if self._chunks is None:
            return super().encode(o)
        return "".join(self._chunks(o, 0))


# Built once: json.dumps with options builds a new encoder on every call.
_PAYLOAD = OneShotEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
_CONTENT = OneShotEncoder(ensure_ascii=False, separators=(",", ":"))
COMPACT = _CONTENT
"""A compact UTF-8 JSON encoder for the hot path's other columns."""


def dump_payload(payload: Mapping[str, Any]) -> str:
    if isinstance(payload, dict) and not payload:
        return "{}"  # most steps' events: without the encoder's 1 µs of set-up
    return _PAYLOAD.encode(payload)


def event_hash(
    *,
    case_id: int,
    seq: int,
    at: datetime,
    actor: str | None,
    action: str,
    step: str | None,
    from_state: str | None,
    to_state: str | None,
    note: str | None,
    payload_json: str,
    prev_hash: str,
) -> str:
    """The SHA-256 of the event's content and the previous hash."""
    content = _CONTENT.encode(
        [
            case_id,
            seq,
            canonical_moment(at),
            actor,
            action,
            step,
            from_state,
            to_state,
            note,
            payload_json,
            prev_hash,
        ],
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def recompute(event: Event) -> str:
    return event_hash(
        case_id=event.case_id,
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        action=event.action,
        step=event.step,
        from_state=event.from_state,
        to_state=event.to_state,
        note=event.note,
        payload_json=dump_payload(event.payload),
        prev_hash=event.prev_hash,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainReport:
    """The verdict on one case's chain: ok, or the first bad event and why."""

    case_id: int
    events: int
    ok: bool
    bad_seq: int | None = None
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case_id,
            "events": self.events,
            "ok": self.ok,
            "bad_seq": self.bad_seq,
            "problem": self.problem,
        }


def check_chain(
    case_id: int, events: Iterable[Event], *, last_seq: int, last_hash: str
) -> ChainReport:
    """Recompute a case's chain; name the first event that does not fit."""
    prev = GENESIS
    count = 0
    for expected_seq, ev in enumerate(events, start=1):
        count += 1
        if ev.seq != expected_seq:
            return ChainReport(
                case_id=case_id,
                events=count,
                ok=False,
                bad_seq=ev.seq,
                problem=f"event {expected_seq} is missing (found {ev.seq})",
            )
        if ev.prev_hash != prev:
            return ChainReport(
                case_id=case_id,
                events=count,
                ok=False,
                bad_seq=ev.seq,
                problem="its prev_hash is not the hash of the event before it",
            )
        if recompute(ev) != ev.hash:
            return ChainReport(
                case_id=case_id,
                events=count,
                ok=False,
                bad_seq=ev.seq,
                problem="its content does not match its hash (changed after it was written)",
            )
        prev = ev.hash
    if count != last_seq or prev != last_hash:
        return ChainReport(
            case_id=case_id,
            events=count,
            ok=False,
            bad_seq=count + 1,
            problem=f"the case row records {last_seq} events ending in "
            f"{last_hash[:12]}; the timeline has {count} (events removed?)",
        )
    return ChainReport(case_id=case_id, events=count, ok=True)
