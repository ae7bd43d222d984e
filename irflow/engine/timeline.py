"""The timeline: immutable events, each hash-chained to the one before it.

An event's hash covers all its content (case, sequence number, moment, actor,
action, step, states, note, payload) and the previous event's hash, so changing,
removing or reordering any event breaks every hash after it. Anyone who can write
the database can still recompute every hash after a change; when ``$IRFLOW_AUDIT_KEY``
is set, each event is also sealed with a keyed MAC over its hash, which only the
holder of the key can recompute.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from irflow.engine.ledger import EventRecord

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


AUDIT_KEY_ENV = "IRFLOW_AUDIT_KEY"
"""The environment variable holding the audit key: a secret kept out of the database."""


def audit_key() -> bytes | None:
    """The audit key from ``$IRFLOW_AUDIT_KEY``, or None when it is unset or empty."""
    key = os.environ.get(AUDIT_KEY_ENV, "")
    return key.encode("utf-8") if key else None


def seal(key: bytes, digest: str) -> str:
    """The event's seal: HMAC-SHA256 of its hash under the audit key, in hex."""
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Difference:
    """A column of a case row that its replayed timeline does not give."""

    column: str
    stored: Any
    replayed: Any

    def as_json(self) -> dict[str, Any]:
        return {"column": self.column, "stored": self.stored, "replayed": self.replayed}


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainReport:
    """The verdict on one case: ok, or the first bad event and why, and the columns
    of its row that the replayed timeline does not give.

    ``seals`` is how many events' seals were checked and found good; None when no
    audit key was set, so no seal was checked.
    """

    case_id: int
    events: int
    ok: bool
    bad_seq: int | None = None
    problem: str | None = None
    differences: tuple[Difference, ...] = ()
    seals: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The verdict; ``differences`` only when the row differs, ``seals`` only when
        seals were checked."""
        out: dict[str, Any] = {
            "case": self.case_id,
            "events": self.events,
            "ok": self.ok,
            "bad_seq": self.bad_seq,
            "problem": self.problem,
        }
        if self.differences:
            out["differences"] = [d.as_json() for d in self.differences]
        if self.seals is not None:
            out["seals"] = self.seals
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainVerdict:
    """What ``check_chain`` found: how many events it read, how many seals it checked,
    and the first bad event and why."""

    events: int
    seals: int
    bad_seq: int | None = None
    problem: str | None = None


def check_chain(
    records: Iterable[EventRecord], *, last_seq: int, last_hash: str, key: bytes | None = None
) -> ChainVerdict:
    """Recompute a case's chain from its stored events (each hash over the payload text
    as stored) and, with ``key``, check each event's seal; name the first event that
    does not fit."""
    prev = GENESIS
    count = seals = 0

    def bad(seq: int, problem: str) -> ChainVerdict:
        return ChainVerdict(events=count, seals=seals, bad_seq=seq, problem=problem)

    for expected_seq, ev in enumerate(records, start=1):
        count += 1
        if ev.seq != expected_seq:
            return bad(ev.seq, f"event {expected_seq} is missing (found {ev.seq})")
        if ev.prev_hash != prev:
            return bad(ev.seq, "its prev_hash is not the hash of the event before it")
        digest = event_hash(
            case_id=ev.case_id,
            seq=ev.seq,
            at=ev.at,
            actor=ev.actor_id,
            action=ev.action,
            step=ev.step,
            from_state=ev.from_state,
            to_state=ev.to_state,
            note=ev.note,
            payload_json=ev.payload,
            prev_hash=prev,
        )
        if digest != ev.hash:
            return bad(ev.seq, "its content does not match its hash (changed after it was written)")
        if key is not None:
            if ev.seal is None:
                return bad(
                    ev.seq,
                    f"it carries no seal (written without ${AUDIT_KEY_ENV}, or its seal "
                    "was removed)",
                )
            if not hmac.compare_digest(ev.seal, seal(key, digest)):
                return bad(
                    ev.seq,
                    "its seal does not match its hash under the audit key (rewritten by "
                    "someone without the key, or sealed under another key)",
                )
            seals += 1
        prev = ev.hash
    if count != last_seq or prev != last_hash:
        return bad(
            count + 1,
            f"the case row records {last_seq} events ending in "
            f"{last_hash[:12]}; the timeline has {count} (events removed?)",
        )
    return ChainVerdict(events=count, seals=seals)
