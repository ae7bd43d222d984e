"""The jinja2 environment of the templates, its filters, and rendering one template.

Autoescape is on for ``*.html.j2`` (and ``.htm.j2``/``.xml.j2``) and off for the
Markdown and mail templates; an undefined name raises (``StrictUndefined``), and so
does printing None (``finalize``): optional fields are guarded in the template.

jinja2 is imported inside the functions, so importing the forms costs no more than
their dataclasses.
"""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from irflow.clock import to_jst
from irflow.engine.forms.contexts import Context, RenderedMail, field_names
from irflow.engine.phrases import PhraseBook
from irflow.errors import InvalidInput, TemplateFieldError

if TYPE_CHECKING:
    from jinja2 import BaseLoader, Environment, Template

TEMPLATE_PACKAGE = "irflow"
TEMPLATE_FOLDER = "templates"

_SUBJECT_HEADER = "Subject:"

_WORDING = PhraseBook("forms", {"moment": ("year", "month", "day", "at")})


# --------------------------------------------------------------------------- formatting


def format_jst(moment: datetime) -> str:
    """A moment in Japan time, as the forms write it (the phrase ``forms.moment``).

    >>> format_jst(datetime(2026, 12, 1, 0, 40, tzinfo=UTC))
    '2026年12月1日 09:40'
    """
    local = to_jst(moment)
    return _WORDING.fill("moment", year=local.year, month=local.month, day=local.day, at=local)


def _md_text(text: object) -> str:
    """Text with raw HTML disarmed for Markdown renderers (``<`` becomes ``\\<``).

    Markdown output is not HTML-escaped (it is read as text, Japanese and all); the
    backslash only stops a renderer from taking ``<script>`` in data for markup.
    """
    return str(text).replace("<", "\\<")


def _md_cell(text: object) -> str:
    """Text fit for one Markdown table cell: no line breaks, no column bars, no raw HTML."""
    return _md_text(" ".join(str(text).split())).replace("|", "\\|")


def _md_quote(text: object) -> str:
    """Free text as a Markdown block quote, so its lines cannot become headings or lists."""
    lines = _md_text(text).strip("\n").splitlines() or [""]
    return "\n".join(f"> {line}".rstrip() for line in lines)


def _oneline(text: object) -> str:
    """Text on one line (for subjects)."""
    return " ".join(str(text).split())


class _UnguardedNone(Exception):
    """A template printed or formatted an optional field that is None."""


def _finalize(value: object) -> object:
    if value is None:
        raise _UnguardedNone("it prints a field that is None")
    return value


def _jst_filter(moment: object) -> str:
    if not isinstance(moment, datetime):
        raise _UnguardedNone(f"it formats {moment!r} with |jst, which takes a moment")
    return format_jst(moment)


# --------------------------------------------------------------------------- environment


def build_environment(loader: BaseLoader | None = None) -> Environment:
    """A jinja2 environment over ``loader`` (default: the bundled templates), unchecked."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=loader if loader is not None else PackageLoader(TEMPLATE_PACKAGE, TEMPLATE_FOLDER),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=("html.j2", "htm.j2", "xml.j2", "html"),
            disabled_extensions=(),
            default_for_string=True,
            default=False,
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
        auto_reload=False,
    )
    env.filters["jst"] = _jst_filter
    env.filters["md_cell"] = _md_cell
    env.filters["md_quote"] = _md_quote
    env.filters["oneline"] = _oneline
    return env


# --------------------------------------------------------------------------- rendering


def render_template(template: Template, name: str, ctx: Context) -> str:
    """``template`` (named ``name``) with the fields of ``ctx``; failures are irflow's errors.

    A missing field raises ``TemplateFieldError``; an unguarded None, or any other
    failure of the template on this data, ``InvalidInput`` naming the template.
    """
    from jinja2 import TemplateError, UndefinedError

    try:
        return template.render(_variables(ctx))
    except UndefinedError as error:
        detail = error.message or str(error)
        raise TemplateFieldError(
            name, _missing_name(detail), detail, field_names(type(ctx))
        ) from None
    except _UnguardedNone as error:
        raise InvalidInput(
            f"template {name!r} fails: {error}; guard optional fields with "
            "'{% if field is not none %}'"
        ) from None
    except TemplateError as error:
        raise InvalidInput(f"template {name!r} fails: {error}") from None
    except Exception as error:  # a filter or test broke on the data: still the template's fault
        raise InvalidInput(f"template {name!r} fails: {type(error).__name__}: {error}") from error


def split_mail(name: str, text: str) -> RenderedMail:
    """A rendered mail template as its subject (the ``Subject:`` line) and its body."""
    head, blank, body = text.lstrip("\n").partition("\n\n")
    if not blank or not head.startswith(_SUBJECT_HEADER):
        raise InvalidInput(
            f"mail template {name!r} must begin with a line 'Subject: ...' "
            "followed by a blank line, then the body"
        )
    subject = _oneline(head[len(_SUBJECT_HEADER) :])
    if not subject:
        raise InvalidInput(f"mail template {name!r} produced an empty subject")
    return RenderedMail(subject=subject, body=body.strip("\n") + "\n")


def _variables(ctx: Context) -> dict[str, Any]:
    return {f.name: getattr(ctx, f.name) for f in fields(ctx)}


_MISSING_PATTERNS = (
    re.compile(r"has no attribute '([^']+)'"),
    re.compile(r"'([^']+)' is undefined"),
    re.compile(r"no element '?([^']+?)'?$"),
)


def _missing_name(detail: str) -> str:
    for pattern in _MISSING_PATTERNS:
        found = pattern.search(detail)
        if found:
            return found.group(1)
    return "?"
