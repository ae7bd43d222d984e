"""The command line's entry: its help, and each kind of refusal its own exit code and one
line; on broken storage that line names the file or URL and what to do, exit 1, never a
traceback, nothing written; read commands work on a read-only copy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from irflow.engine import storage
from irflow.engine.database import make_engine
from tests import storage_faults
from tests.cli.runs import Result, Run, opened, row_counts
from tests.conftest import pg_base_url, pg_schema
from tests.storage_faults import (
    DAMAGES,
    connections_lost,
    disk_full,
    irflow_file,
    named_url,
    read_only,
    snapshot,
)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("case", "advance", "1", "report_status", "--as", "sanjo"), 2),
        (("case", "advance", "1", "detect_anomaly", "--as", "sanjo", "--expect-version", "9"), 5),
        (("case", "advance", "99", "detect_anomaly", "--as", "sanjo"), 3),
        (("case", "advance", "1", "no_such_step", "--as", "sanjo"), 3),
        (("case", "advance", "1", "detect_anomaly", "--as", "山口"), 2),
        (("case", "advance", "1", "detect_anomaly", "--as", "sanjo", "--at", "tomorrow"), 2),
        (("route", "--from", "sanjo", "--to", "operator", "--situation", "panic"), 2),
        (("flow", "show", "nosuch"), 3),
        (("case", "list", "--state", "bogus"), 2),
        (("org", "search", "該当なしのサンプル"), 3),
    ],
    ids=[
        "waiting-step",
        "stale-version",
        "no-case",
        "no-step",
        "ambiguous-org",
        "bad-moment",
        "bad-situation",
        "no-flow",
        "no-state",
        "no-org-match",
    ],
)
def test_errors_have_distinct_exit_codes(irflow: Run, args: tuple[str, ...], code: int) -> None:
    """Bad input exits 2, not found 3, a version conflict 5, each with nothing written."""
    opened(irflow)
    result = irflow(*args)
    assert result.code == code, result.err
    assert result.err.startswith("irflow: error: ")
    assert irflow("case", "show", "1", "--json").json()["version"] == 1  # type: ignore[index]


@pytest.mark.parametrize(
    "args",
    [
        ("case", "open", "--reporter", "山口", "--title", "サンプル障害"),
        ("inquiry", "ask", "--as", "山口", "--title", "サンプル", "--body", "x", "--faq-checked"),
    ],
    ids=["case-open", "inquiry-ask"],
)
def test_an_ambiguous_name_exits_2_listing_the_candidates_and_writes_nothing(
    irflow: Run, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """山口 names 山口県 and 山口市: bad input (exit 2), both listed, no row written."""
    assert irflow("init").code == 0
    before = row_counts(tmp_path / "cli.db")
    refused = irflow(*args)
    assert refused.code == 2
    assert refused.err.count("\n") == 1
    assert "山口県 (pref-yamaguchi)" in refused.err
    assert "山口市 (yamaguchi-city)" in refused.err
    assert "give the id or the local government code" in refused.err
    assert row_counts(tmp_path / "cli.db") == before


def test_help_teaches(irflow: Run) -> None:
    """`irflow --help` lists the commands and an example session with the exit codes."""
    result = irflow("--help")
    assert result.code == 0
    for word in ("case", "route", "verify", "irflow case advance 1 detect_anomaly", "Exit codes"):
        assert word in result.out


admin = storage_faults.admin


READS = [
    ("case", "list"),
    ("case", "show", "1"),
    ("verify",),
    ("verify", "1"),
    ("org", "search", "山口"),
    ("outbox", "list"),
]


WRITES = [
    ("case", "open", "--reporter", "三条市", "--title", "障害"),
    ("case", "advance", "1", "detect_anomaly", "--as", "三条市"),
    ("case", "declare", "1", "beyond_own_capacity", "--as", "三条市"),
]


def one_line(result: Result, start: str) -> str:
    """The command failed with exit 1 and one line on stderr beginning with ``start``."""
    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert result.err.startswith(f"irflow: error: {start}"), result.err
    assert result.err.count("\n") == 1, result.err
    return result.err


def use(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("IRFLOW_DB", url)


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_file_is_one_line_for_every_command(
    damage: str, irflow: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corrupt, truncated or non-SQLite file: every command says which file and that it
    should be restored or another one named, and writes nothing to it."""
    path = tmp_path / "damaged" / "irflow.db"
    path.parent.mkdir()
    DAMAGES[damage](path)
    use(monkeypatch, f"sqlite:///{path}")
    before = snapshot(path.parent)
    for command in [*READS, *WRITES, ("init",)]:
        err = one_line(irflow(*command), f"{path} is not an irflow database (")
        assert err.endswith("); restore it from a backup or point --db elsewhere\n"), command
    assert snapshot(path.parent) == before


def test_a_full_disk_is_one_line_and_the_cases_before_it_stay(
    irflow: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cases are opened until the disk is full: the one that finds no room says so in
    one line; every case before it is there and verifies."""
    path = irflow_file(tmp_path / "full" / "irflow.db")
    use(monkeypatch, f"sqlite:///{path}")
    opened = 1
    with disk_full():
        for _ in range(500):
            result = irflow("case", "open", "--reporter", "三条市", "--title", "障害" * 200)
            if result.code != 0:
                break
            opened += 1
        one_line(result, f"{path} has no room left (database or disk is full); free space")
    listed = irflow("case", "list", "--json").json()
    assert isinstance(listed, list)
    assert [c["id"] for c in listed] == list(range(1, opened + 1))
    assert irflow("verify").code == 0


@pytest.fixture
def read_only_copy(tmp_path: Path) -> Iterator[Path]:
    """A `cp` copy of a database closed cleanly, the file and its folder read-only."""
    original = irflow_file(tmp_path / "original" / "irflow.db", cases=2)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(original, copy / "irflow.db")
    with read_only(copy / "irflow.db", copy):
        yield copy / "irflow.db"


def test_a_read_only_copy_reads_and_refuses_writes_in_one_line(
    read_only_copy: Path, irflow: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read commands and verify work on a read-only copy; a write command says the file
    is read-only in one line, exit 1, and the copy is as it was."""
    path = read_only_copy
    use(monkeypatch, f"sqlite:///{path}")
    before = snapshot(path.parent)
    for command in READS:
        result = irflow(*command)
        assert result.code == 0, (command, result.err)
        assert result.err == "", command
    assert "case 1: ok" in irflow("verify").out
    for command in WRITES:
        one_line(irflow(*command), f"{path} is read-only (attempt to write a readonly database)")
    assert irflow("init").code == 0  # up to date: nothing to write
    assert snapshot(path.parent) == before
    shown = irflow("case", "show", "1", "--json").json()
    assert isinstance(shown, dict)
    assert shown["version"] == 1


def test_a_lost_connection_is_one_line_and_writes_nothing(
    admin: psycopg.Connection[Any], irflow: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ends the connection a command has just taken: reads and writes each
    say the URL lost its connection and to check the server, exit 1; nothing is written."""
    base = pg_base_url()
    assert base is not None
    with pg_schema(base, "irflow_cli_lost") as schema_url:
        url, _name = named_url(schema_url)
        use(monkeypatch, url)
        assert irflow("init").code == 0
        assert irflow("case", "open", "--reporter", "三条市", "--title", "障害").code == 0
        where = storage.describe(make_engine(url).url)
        with connections_lost(admin):
            for command in [*READS, *WRITES]:
                err = one_line(irflow(*command), f"{where} lost its connection (")
                assert err.endswith("; check the server and run the command again\n"), command
        shown = irflow("case", "show", "1", "--json").json()
        assert isinstance(shown, dict)
        assert (shown["version"], len(shown["timeline"])) == (1, 1)


def test_a_server_that_is_not_there_is_one_line(
    irflow: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No server listens at the URL: one line says to check the server and the URL."""
    use(monkeypatch, "postgresql://postgres@127.0.0.1:1/test")
    err = one_line(irflow("case", "list"), "cannot connect to postgresql://postgres@127.0.0.1:1/")
    assert err.endswith("; check that the server runs and that the URL is right\n")
