"""Contexts read back from plain data: the JSON the engine stores, the sample file.

A context is built from a mapping of its fields. A moment is an ISO 8601 string (a
moment without an offset is Japan time, as everywhere in irflow) or a datetime; a
nested context is a mapping of its own fields, a sequence of them a list. A field that
is null where the context takes no None keeps its default. What cannot be read is
refused with ``InvalidInput`` naming the context, the field and the fix.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, fields, is_dataclass
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from irflow.clock import as_aware
from irflow.engine.forms.contexts import (
    InquiryFormContext,
    InquiryMailContext,
    field_names,
)
from irflow.errors import InvalidInput

_C = TypeVar("_C")

# How errors name a stored context, from its own fields; and an item of a list field.
_WHERE = {
    InquiryFormContext: "inquiry form {inquiry_id}",
    InquiryMailContext: "inquiry notice {inquiry_id}",
}
_ITEM = {"hops": "hop", "steps": "step"}


def inquiry_form_from_json(data: Mapping[str, Any]) -> InquiryFormContext:
    """The ``InquiryFormContext`` stored as JSON (moments as ISO 8601 strings).

    Raises ``InvalidInput`` naming the field that is missing or not a moment.
    """
    return context_from_data(InquiryFormContext, data)


def inquiry_mail_from_json(data: Mapping[str, Any]) -> InquiryMailContext:
    """The ``InquiryMailContext`` stored as JSON by the engine, its form included."""
    return context_from_data(InquiryMailContext, data)


def context_from_data(context: type[_C], data: Mapping[str, Any], where: str | None = None) -> _C:
    """A ``context`` built from ``data``; ``where`` names it in errors (default: its id)."""
    if where is None:
        where = _name_of(context, data)
    values = dict(data)
    kinds = _kinds_of(typing.cast(type, context))
    for field in fields(context):  # type: ignore[arg-type]
        kind = kinds[field.name]
        value = data.get(field.name)
        if kind.moment:
            if field.name in data or field.default is MISSING:
                values[field.name] = _moment(value, field.name, where, optional=kind.optional)
        elif value is None:
            if field.name in data and not kind.optional and field.default is not MISSING:
                del values[field.name]  # a null where None is no value: the default
        elif kind.nested is not None:
            values[field.name] = _nested(kind.nested, value, field.name, where)
        elif kind.items is not None:
            values[field.name] = _items(kind.items, value, field.name, where)
        elif kind.sequence and isinstance(value, list):
            values[field.name] = tuple(value)
    try:
        return context(**values)
    except TypeError as error:  # a field missing, or one the context does not have
        listed = ", ".join(field_names(context))
        raise InvalidInput(
            f"{where}: {error}; the fields of {context.__name__} are: {listed}"
        ) from None


def _name_of(context: type, data: Mapping[str, Any]) -> str:
    pattern = _WHERE.get(context)
    if pattern is None:
        return context.__name__
    return pattern.format_map(_Unknown(data))


class _Unknown(dict[str, Any]):
    """The data, with ``?`` for a field it lacks (so that an error can still name it)."""

    def __missing__(self, key: str) -> str:
        return "?"


def _moment(value: Any, key: str, where: str, *, optional: bool) -> datetime | None:
    if value is None:
        if optional:
            return None
        raise InvalidInput(f"{where}: {key} is missing; give an ISO 8601 moment")
    if isinstance(value, datetime):
        return as_aware(value)
    try:
        return as_aware(datetime.fromisoformat(str(value)))
    except ValueError:
        raise InvalidInput(
            f"{where}: {key} {value!r} is not an ISO 8601 moment (e.g. 2026-11-30T10:00:00+09:00)"
        ) from None


def _nested(context: type, value: Any, key: str, where: str) -> Any:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where}: {key} is an object with the fields of {context.__name__}")
    return context_from_data(context, value)


def _items(context: type, value: Any, key: str, where: str) -> tuple[Any, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InvalidInput(f"{where}: {key} must be a list, not {value!r}")
    item = _ITEM.get(key, key)
    built: list[Any] = []
    for n, entry in enumerate(value, 1):
        here = f"{where}, {item} {n}"
        if not isinstance(entry, Mapping):
            listed = ", ".join(field_names(context))
            raise InvalidInput(f"{here}: a {item} is an object with the fields {listed}")
        built.append(context_from_data(context, entry, here))
    return tuple(built)


class _Kind(typing.NamedTuple):
    """What a field's type asks of its value."""

    moment: bool
    optional: bool
    nested: type | None
    items: type | None
    sequence: bool

    @staticmethod
    def of(hint: Any) -> _Kind:
        args = typing.get_args(hint)
        optional = isinstance(hint, types.UnionType) and type(None) in args
        plain = next((a for a in args if a is not type(None)), hint) if optional else hint
        origin = typing.get_origin(plain)
        sequence = origin is Sequence
        element = typing.get_args(plain)[0] if sequence else None
        return _Kind(
            moment=plain is datetime,
            optional=optional,
            nested=plain if isinstance(plain, type) and is_dataclass(plain) else None,
            items=element if isinstance(element, type) and is_dataclass(element) else None,
            sequence=sequence,
        )


@cache
def _kinds_of(context: type) -> dict[str, _Kind]:
    """The kind of every field of a context class (read once per class)."""
    return {name: _Kind.of(hint) for name, hint in typing.get_type_hints(context).items()}
