"""How a case row's text columns encode its sets and its steps done.

``kinds`` and ``flags`` are comma-separated sets; ``steps_done`` is the compact JSON
of ``{step: [by, at]}`` in the order the steps were done.
"""

from __future__ import annotations

import json
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any

from irflow.engine.timeline import COMPACT
from irflow.errors import InvalidInput


@lru_cache(maxsize=512)
def split(text: str) -> frozenset[str]:
    """A comma-separated column (kinds, flags) as a set; remembered, since a case has
    few distinct values and a step asks for them three times."""
    return frozenset(text.split(",")).difference(("",))


def clean_text(field: str, text: str | None) -> str | None:
    """Refuse text no backend stores alike (PostgreSQL rejects NUL, SQLite keeps it),
    and text that is not Unicode (bytes of another encoding reach Python from argv as
    lone surrogates, which no hash, row or mail can encode)."""
    if text is None:
        return text
    if "\x00" in text:
        raise InvalidInput(f"{field} contains a NUL character; remove it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{field} holds bytes that are not UTF-8 (at character {exc.start + 1}); "
            "give it in UTF-8"
        ) from None
    return text


class StepsDone:
    """The ``steps_done`` column's JSON, remembered for the last texts this engine wrote:
    a command on a case decodes what the one before it encoded. Exact both ways (a
    text is the encoding of one dict); a text written elsewhere is decoded as ever.
    Decoding and re-encoding the whole column cost 13 µs a step of bench/advance.py's
    run; remembered, 2."""

    def __init__(self) -> None:
        self._dicts: dict[str, dict[str, Any]] = {}

    def load(self, text: str) -> dict[str, Any]:
        known = self._dicts.get(text)
        if known is not None:
            return dict(known)
        decoded: dict[str, Any] = json.loads(text)
        return decoded

    def dump(self, text: str, done: dict[str, Any], step: str) -> str:
        """``COMPACT.encode(done)``, where ``done`` is ``load(text)`` with ``step`` added."""
        before = self._dicts.get(text)
        if before is not None and step not in before:
            # ``text`` is COMPACT's encoding of ``before``, and the new step comes last.
            entry = f"{encode_basestring(step)}:{COMPACT.encode(done[step])}}}"
            encoded = text[:-1] + ("," + entry if before else entry)
        else:
            encoded = COMPACT.encode(done)
        if len(self._dicts) >= 256:
            self._dicts.clear()
        self._dicts[encoded] = dict(done)
        return encoded
