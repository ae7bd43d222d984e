"""Phrases: the short wording the engine puts together itself, read from data.

A few sentences are built from parts in code: why a day is closed, why a contact plan
is not the working-day daytime one, the contact checklist, a moment as the forms
write it. Their words live in ``irflow/templates/phrases.yaml``, one section per
module. A phrase is a ``str.format`` pattern naming its values (``{month}月{day}日は
{why}``); a module declares its section as a ``PhraseBook``: which phrases it uses and
which values each may name.

The file is read once per process, when a phrase is first asked for. A section that
lacks a phrase, holds one the module does not use, or names a value the module does
not give is refused with the file, the line and the fix, before any sentence is made
from it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from irflow.engine.yamlfile import Lines, load_mapping
from irflow.errors import InvalidFlow

BUNDLED_PATH = "irflow/templates/phrases.yaml"

_FORMATTER = string.Formatter()


class PhraseBook:
    """The phrases of one section, and the values each may name."""

    def __init__(self, section: str, fields: Mapping[str, tuple[str, ...]]) -> None:
        """``fields`` maps each phrase the module uses to the values it gives that phrase."""
        self.section = section
        self.fields = dict(fields)
        self._texts: dict[str, str] | None = None

    def __getitem__(self, key: str) -> str:
        texts = self._texts if self._texts is not None else self._bundled()
        return texts[key]

    def fill(self, key: str, **values: object) -> str:
        """The phrase ``key`` with ``values`` put in."""
        return self[key].format(**values)

    def read(self, text: str, *, source: str) -> dict[str, str]:
        """This section of a phrases file, checked; refused with the file, line and fix."""
        data, lines = load_mapping(
            text, path=source, what="a phrases file is a YAML mapping of sections of phrases"
        )
        return self._check(data, source, lines)

    def _bundled(self) -> dict[str, str]:
        data, lines = _bundled_file()
        self._texts = self._check(data, BUNDLED_PATH, lines)
        return self._texts

    def _check(self, data: Mapping[str, Any], source: str, lines: Lines) -> dict[str, str]:
        section = data.get(self.section)
        if not isinstance(section, Mapping):
            raise InvalidFlow(
                f"{self.section}: the section is missing or not a mapping; add it with "
                f"the phrases {', '.join(self.fields)}",
                path=source,
                line=lines.nearest((self.section,)),
            )
        unused = [key for key in section if key not in self.fields]
        if unused:
            raise InvalidFlow(
                f"{self.section}.{unused[0]} is not a phrase irflow uses; remove it or "
                f"check its spelling (the phrases: {', '.join(self.fields)})",
                path=source,
                line=lines.nearest((self.section, unused[0])),
            )
        texts = {}
        for key, allowed in self.fields.items():
            where = f"{self.section}.{key}"
            loc = (self.section, key)
            value = section.get(key)
            if not isinstance(value, str):
                hint = f"the values it may name: {', '.join(allowed)}" if allowed else "plain text"
                raise InvalidFlow(
                    f"{where} is missing or not text; add it ({hint})",
                    path=source,
                    line=lines.nearest(loc),
                )
            problem = _field_problem(value, allowed)
            if problem is not None:
                raise InvalidFlow(f"{where}: {problem}", path=source, line=lines.nearest(loc))
            texts[key] = value
        return texts


def _field_problem(text: str, allowed: tuple[str, ...]) -> str | None:
    """What is wrong with the values a pattern names, or None."""
    try:
        parts = list(_FORMATTER.parse(text))
    except ValueError as error:
        return f"{error}; write a brace that is text as {{{{ or }}}}"
    for _, name, spec, _ in parts:
        if name is None:
            continue
        if name not in allowed:
            known = ", ".join(f"{{{a}}}" for a in allowed) or "none (write the text alone)"
            return f"{{{name}}} is not a value of this phrase; it may name {known}"
        if spec and "{" in spec:
            return f"{{{name}}} has a value inside its format ({spec!r}); write the format out"
    return None


@cache
def _bundled_file() -> tuple[dict[str, Any], Lines]:
    text = resources.files("irflow").joinpath("templates", "phrases.yaml").read_text("utf-8")
    return load_mapping(text, path=BUNDLED_PATH, what="phrases.yaml is a mapping of sections")
