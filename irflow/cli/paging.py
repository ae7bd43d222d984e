"""Paged lists: the --limit and --after options and the line that leads to the next page.

A list shows a page of cases, oldest first; the next page starts after the last number
shown (``Engine.cases``), so pages follow one another without gaps or repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from irflow.cli.common import console

if TYPE_CHECKING:
    from irflow.engine.views import CaseSummary

LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        metavar="N",
        help="How many to show on a page, 1 to 1000 (default 50).",
        show_default=False,
    ),
]
AfterOption = Annotated[
    int,
    typer.Option(
        "--after",
        metavar="N",
        help="Start after this number: the last one the page before showed.",
        show_default=False,
    ),
]


def page_size(limit: int | None) -> int:
    """The page size --limit asked for, or the engine's own."""
    from irflow.engine.queries import PAGE

    return PAGE if limit is None else limit


def next_page(
    command: str,
    filters: dict[str, str | bool | None],
    page: Sequence[CaseSummary],
    limit: int | None,
) -> None:
    """Print how to ask for the page after ``page``, with the same ``filters`` (an
    option's value, True for a flag); nothing after a page shorter than its limit,
    the last one."""
    import shlex

    if not page or len(page) < page_size(limit):
        return
    words = [command]
    for option, value in [*filters.items(), ("--limit", None if limit is None else str(limit))]:
        if value is True:
            words.append(option)
        elif isinstance(value, str):
            words += [option, shlex.quote(value)]
    console().print(f"next page: {' '.join(words)} --after {page[-1].id}", markup=False)
