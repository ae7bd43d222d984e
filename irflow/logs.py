"""Logging: structlog, with every event masked before it is written.

No individual number (個人番号: twelve digits whose last is a valid check digit) and
no mail address ever reaches a log line: ``mask_personal_data`` rewrites them in
every string of every event, tracebacks included (it runs after
``format_exc_info``). Logs are JSON for services, readable on a terminal.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_NUMBER = re.compile(r"(?<![0-9])([0-9]{4})[- ]?([0-9]{4})[- ]?([0-9]{4})(?![0-9])")
_MAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
NUMBER_MASK = "[個人番号]"
MAIL_MASK = "[mail]"


def individual_number_check_digit(first_eleven: str) -> int:
    """The check digit of an individual number (番号法施行令第8条の算式)."""
    total = 0
    for n, digit in enumerate(reversed(first_eleven), start=1):
        weight = n + 1 if n <= 6 else n - 5
        total += int(digit) * weight
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_individual_number(digits: str) -> bool:
    return (
        len(digits) == 12
        and digits.isdigit()
        and individual_number_check_digit(digits[:11]) == int(digits[11])
    )


def mask_text(text: str) -> str:
    """``text`` with individual numbers and mail addresses masked."""

    def number(m: re.Match[str]) -> str:
        return NUMBER_MASK if is_individual_number("".join(m.groups())) else m.group(0)

    return _MAIL.sub(MAIL_MASK, _NUMBER.sub(number, text))


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask(v) for v in value)
    return value


def mask_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask individual numbers and mail addresses everywhere."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _mask(value)
    return event_dict


class _CurrentStderr:
    """A file-like object that writes to the current ``sys.stderr``."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(
    *,
    level: str = "WARNING",
    json: bool | None = None,
    stream: TextIO | None = None,
    stdlib: bool = True,
) -> None:
    """Set up structlog (and, with ``stdlib``, the stdlib loggers of dependencies) with masking.

    An application that embeds irflow and configures structlog itself keeps its own
    set-up: the engine only calls this (with ``stdlib=False``, quiet) when structlog
    is not configured at all, so that a library user never sees INFO lines on stdout.
    """
    tty = (stream or sys.stderr).isatty()
    # Without an explicit stream, write to whatever sys.stderr is at each event (not the
    # object it was when configured, which a test harness or a daemon may replace).
    target: Any = stream if stream is not None else _CurrentStderr()
    use_json = (not tty) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=tty)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_personal_data,
    ]
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(target),
        cache_logger_on_first_use=True,
    )
    if not stdlib:
        return
    handler = logging.StreamHandler(target)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
