"""Reading the data files (flows, routing): YAML mappings whose errors name the line.

Files parse with libyaml's C loader where it is installed; the node tree that maps
a path in the document to its line is built only when an error needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from irflow.errors import InvalidFlow

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path = tuple[Any, ...]


def _line_index(node: yaml.Node, path: Path = ()) -> dict[Path, int]:
    """Map every path in the YAML document to its 1-based line."""
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines.update(_line_index(value, (*path, key.value)))
            # A key's own line, not its value's, is where an error about it points.
            lines[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(_line_index(item, (*path, i)))
    return lines


class Lines:
    """The path -> line map of a YAML text, composed on first use."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._lines: dict[Path, int] | None = None

    def nearest(self, loc: Path) -> int | None:
        """The line of ``loc``, or of the nearest enclosing path that has one."""
        if self._lines is None:
            node = yaml.compose(self.source, Loader=_Loader)
            self._lines = _line_index(node) if node is not None else {}
        for cut in range(len(loc), -1, -1):
            if loc[:cut] in self._lines:
                return self._lines[loc[:cut]]
        return None


def load_mapping(text: str, *, path: str, what: str) -> tuple[dict[str, Any], Lines]:
    """Parse ``text`` as a YAML mapping; refuse bad YAML with the file, line and fix.

    ``what`` says what the file must hold, for the error when it is not a mapping.
    """
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InvalidFlow(
            f"not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax there",
            path=path,
            line=mark.line + 1 if mark else None,
        ) from None
    if not isinstance(data, dict):
        raise InvalidFlow(what, path=path)
    return data, Lines(text)


Model = TypeVar("Model", bound=BaseModel)


def validate(
    schema: type[Model],
    data: dict[str, Any],
    *,
    path: str,
    lines: Lines,
    hint: Callable[[Path, Any], str],
) -> Model:
    """``data`` as ``schema``; the first error names the field, its line and (via ``hint``)
    the fix."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        dotted = ".".join(str(p) for p in loc)
        raise InvalidFlow(
            f"{dotted}: {first['msg']}{hint(loc, first)}", path=path, line=lines.nearest(loc)
        ) from None
