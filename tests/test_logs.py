"""Logging: no individual number and no mail address reaches a log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from irflow import logs
from irflow.engine.facade import Engine
from irflow.logs import MAIL_MASK, NUMBER_MASK, mask_personal_data

FAKE_PREFIX = "12345678901"
"""Eleven visibly made-up digits: no real individual number looks like this."""


def check_digit(first_eleven: str) -> int:
    """The check digit by the formula of 番号法施行令第8条, written out again for the test.

    With P(n) the n-th digit counted from the right of the eleven and Q(n) = n + 1
    for n <= 6, n - 5 for n >= 7: the remainder r of sum(P(n) Q(n)) by 11 gives the
    check digit 0 when r <= 1, else 11 - r.
    """
    digits = [int(d) for d in reversed(first_eleven)]
    total = sum(p * (n + 1 if n <= 6 else n - 5) for n, p in enumerate(digits, start=1))
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


VALID = FAKE_PREFIX + str(check_digit(FAKE_PREFIX))
INVALID = FAKE_PREFIX + str((check_digit(FAKE_PREFIX) + 1) % 10)
MAIL = "taro.yamada+irflow@example.invalid"


def masked(**event: object) -> dict[str, object]:
    return dict(mask_personal_data(None, "info", dict(event)))


def test_fake_number_is_what_the_test_thinks() -> None:
    """The test's own check digit agrees with irflow's, so the numbers below mean what they say."""
    assert logs.is_individual_number(VALID)
    assert not logs.is_individual_number(INVALID)


@pytest.mark.parametrize(
    "written",
    [VALID, f"{VALID[:4]}-{VALID[4:8]}-{VALID[8:]}", f"{VALID[:4]} {VALID[4:8]} {VALID[8:]}"],
    ids=["plain", "hyphens", "spaces"],
)
def test_individual_number_is_masked(written: str) -> None:
    """A twelve-digit number with a valid check digit is masked, with or without separators."""
    event = masked(event="照会", note=f"番号 {written} の照会に失敗")
    assert event["note"] == f"番号 {NUMBER_MASK} の照会に失敗"


def test_number_with_a_wrong_check_digit_is_left_alone() -> None:
    """Twelve digits that are not an individual number (e.g. a phone or case number) stay."""
    assert masked(note=f"受付 {INVALID}")["note"] == f"受付 {INVALID}"


def test_longer_digit_runs_are_left_alone() -> None:
    """A valid number inside a longer run of digits is not a number on its own."""
    assert masked(note=f"9{VALID}")["note"] == f"9{VALID}"


def test_mail_address_is_masked() -> None:
    """Mail addresses are masked wherever they appear in a string."""
    assert masked(note=f"連絡先: {MAIL}。")["note"] == f"連絡先: {MAIL_MASK}。"


def test_nested_values_are_masked() -> None:
    """Numbers and addresses inside dicts, lists and tuples are masked too."""
    event = masked(payload={"to": [MAIL, {"number": VALID}], "pair": (VALID, 3)}, count=12)
    assert event["payload"] == {
        "to": [MAIL_MASK, {"number": NUMBER_MASK}],
        "pair": (NUMBER_MASK, 3),
    }
    assert event["count"] == 12


def test_rendered_traceback_is_masked() -> None:
    """A traceback rendered into the event (format_exc_info) is masked after rendering."""
    try:
        raise ValueError(f"no record for {VALID} ({MAIL})")
    except ValueError:
        event = structlog.processors.format_exc_info(None, "error", {"exc_info": True})
    assert VALID in event["exception"]
    event = masked(**event)
    text = str(event["exception"])
    assert "ValueError: no record for" in text
    assert VALID not in text
    assert MAIL not in text
    assert NUMBER_MASK in text
    assert MAIL_MASK in text


@pytest.fixture
def structlog_defaults() -> Iterator[None]:
    """structlog as it is out of the box, restored afterwards (the CLI may configure it).

    It counts as configured, so that the engine does not install its quiet default.
    """
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    structlog.reset_defaults()
    structlog.configure()
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.usefixtures("structlog_defaults")
def test_configured_logging_masks_what_it_writes() -> None:
    """With irflow's configuration, a JSON log line carries neither the number nor the address."""
    stream = io.StringIO()
    logs.configure(level="INFO", json=True, stream=stream)
    structlog.get_logger("irflow").info("case.note", note=f"{VALID} {MAIL}", case_id=7)
    logging.getLogger("some.dependency").warning("stdlib too: %s", VALID)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["note"] == f"{NUMBER_MASK} {MAIL_MASK}"
    assert lines[0]["case_id"] == 7
    assert VALID not in stream.getvalue()
    assert MAIL not in stream.getvalue()


@pytest.mark.usefixtures("structlog_defaults")
def test_engine_command_logs_case_and_actor(engine: Engine) -> None:
    """Every command's log event is bound to the case id and the acting organisation."""
    with capture_logs() as captured:
        opened = engine.open_case(reporter="sanjo", title="x")
        engine.advance(opened.case_id, "detect_anomaly", actor="sanjo")
        engine.assign_coordinator(opened.case_id, coordinator="mhlw", actor="mic-mynumber")
    assert [(e["event"], e["case_id"], e["actor"]) for e in captured] == [
        ("case.opened", opened.case_id, "sanjo"),
        ("step.completed", opened.case_id, "sanjo"),
        ("coordinator.assigned", opened.case_id, "mic-mynumber"),
    ]
    assert captured[1]["step"] == "detect_anomaly"
