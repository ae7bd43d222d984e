"""What every command shares: the database option, output, and time.

Commands import the engine inside their bodies so that ``irflow --help`` and a
read command load only what they need.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from irflow.engine.facade import Engine

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="IRFLOW_DB",
        metavar="URL",
        help="Database URL: sqlite:///FILE (default sqlite:///irflow.db) or "
        "postgresql://USER@HOST/DB. Also read from $IRFLOW_DB.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of a readable view.")
]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="MOMENT",
        help="The moment of the command, ISO 8601 (e.g. 2026-12-01T10:30; without an "
        "offset it is Japan time). Default: now.",
        show_default=False,
    ),
]


def open_engine(db: str | None, *, writes: bool = False) -> Engine:
    """The engine on ``db``; a command that ``writes`` also sets up (masked) logging."""
    from irflow.engine.facade import Engine

    if not writes:
        return Engine(db)
    from irflow.logs import configure
    from irflow.notifiers.settings import load_notifiers

    configure()
    # Commands that write queue a message for every configured channel.
    return Engine(db, notifiers=load_notifiers())


def moment(at: str | None) -> datetime | None:
    from irflow.clock import parse_moment

    return parse_moment(at) if at else None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def console() -> Any:
    from rich.console import Console

    # Piped output is read by people in logs and mails: do not cut it at 80 columns.
    width = None if sys.stdout.isatty() else 160
    return Console(highlight=False, soft_wrap=True, width=width)


def jst(text_or_moment: str | datetime | None) -> str:
    """A stored moment as Japan time, minute precision, for people."""
    from irflow.clock import to_jst

    if text_or_moment is None:
        return ""
    when = (
        datetime.fromisoformat(text_or_moment)
        if isinstance(text_or_moment, str)
        else text_or_moment
    )
    return to_jst(when).strftime("%Y-%m-%d %H:%M")
