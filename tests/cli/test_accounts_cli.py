"""`irflow user`, `irflow token`, `irflow audit` and the security log in `irflow verify`:
what they print, their exit codes, and nothing written by a refusal; on every backend."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from irflow.cli.main import main
from irflow.clock import to_jst
from irflow.engine.accounts import passwords, tokens
from irflow.engine.database import database_url
from irflow.engine.facade import Engine
from irflow.engine.timeline import AUDIT_KEY_ENV
from irflow.errors import Unauthenticated

TABLES = ("account", "api_token", "security_event", "security_head")
PASSWORD = "correct horse battery staple"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr(passwords, "hasher", lambda: cheap)


@pytest.fixture
def irflow(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run `irflow ARGS` in-process on an initialised database of each backend
    (``stdin=`` gives what the command reads)."""
    monkeypatch.setenv("IRFLOW_DB", db_url)
    monkeypatch.delenv("IRFLOW_NOTIFIERS", raising=False)
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)
    opened: list[Engine] = []
    start = Engine.__init__

    def init(self: Engine, *args: Any, **kwargs: Any) -> None:
        start(self, *args, **kwargs)
        opened.append(self)

    # A command's process ends with it, and its connections with it; in-process, the
    # engines are closed after each command (PostgreSQL's connections are few).
    monkeypatch.setattr(Engine, "__init__", init)

    def run(*args: str, stdin: str = "") -> Result:
        monkeypatch.setattr(sys, "argv", ["irflow", *args])
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            while opened:
                opened.pop().close()
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    assert run("init").code == 0
    return run


@pytest.fixture
def footprint(db_url: str) -> Iterator[Callable[[], dict[str, list[tuple[Any, ...]]]]]:
    """Every row of the accounts' tables, read behind the command line's back."""
    sa = create_engine(database_url(db_url))

    def read() -> dict[str, list[tuple[Any, ...]]]:
        with sa.connect() as conn:
            return {
                t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))]
                for t in TABLES
            }

    yield read
    sa.dispose()


def refused(result: Result, code: int, words: str) -> None:
    """The command failed with ``code`` and one line on stderr holding ``words``."""
    assert result.code == code, result
    assert result.out == ""
    assert result.err.startswith("irflow: error: "), result.err
    assert result.err.count("\n") == 1, result.err
    assert words in result.err, result.err


# ---------------------------------------------------------------------------- user


def test_user_add_and_list(irflow: Run) -> None:
    added = irflow("user", "add", "tanaka", "--org", "三条市", "--name", "田中 一郎")
    assert added.code == 0, added
    assert added.out == "added tanaka, of 三条市 (sanjo)\n"
    shown = irflow("user", "add", "suzuki", "--org", "pref-niigata", "--json").json()
    assert shown["login"] == "suzuki"
    assert shown["org"] == "pref-niigata"
    listed = irflow("user", "list", "--json").json()
    assert [a["login"] for a in listed] == ["suzuki", "tanaka"]
    assert set(listed[0]) == {"id", "login", "org", "name", "disabled", "has_password",
                              "created_at"}  # fmt: skip
    assert [a["login"] for a in irflow("user", "list", "--org", "sanjo", "--json").json()] == [
        "tanaka"
    ]
    lines = irflow("user", "list").out.splitlines()
    assert lines[1].startswith("tanaka")
    assert "三条市 (sanjo)  田中 一郎  enabled, no password" in lines[1]
    assert (
        irflow("user", "list", "--org", "pref-yamaguchi").out == "no accounts of pref-yamaguchi\n"
    )


def test_user_add_refusals_exit_2_or_3_and_write_nothing(irflow: Run, footprint: Any) -> None:
    assert irflow("user", "add", "tanaka", "--org", "sanjo").code == 0
    before = footprint()
    refused(irflow("user", "add", "tanaka", "--org", "sanjo"), 2, "there is an account 'tanaka'")
    refused(irflow("user", "add", "sato", "--org", "nowhere"), 3, "no organisation 'nowhere'")
    refused(irflow("user", "add", "Sato", "--org", "sanjo"), 2, "2 to 64 characters")
    refused(irflow("user", "add", "sato", "--org", "山口"), 2, "ambiguous")
    refused(irflow("user", "list", "--org", "nowhere"), 3, "no organisation")
    assert footprint() == before


def test_user_disable_and_enable(irflow: Run, footprint: Any) -> None:
    irflow("user", "add", "tanaka", "--org", "sanjo")
    assert irflow("user", "disable", "tanaka").out == "tanaka disabled: its tokens are refused\n"
    before = footprint()
    assert irflow("user", "disable", "tanaka").out == "tanaka was disabled already\n"
    assert footprint() == before
    assert "disabled, no password" in irflow("user", "list").out
    assert irflow("user", "enable", "tanaka").out == "tanaka enabled\n"
    refused(irflow("user", "disable", "nobody"), 3, "no account 'nobody'")
    refused(irflow("user", "enable", "nobody"), 3, "no account 'nobody'")


def test_user_password_reads_one_line_from_stdin(irflow: Run, db_url: str) -> None:
    irflow("user", "add", "tanaka", "--org", "sanjo")
    result = irflow("user", "password", "tanaka", stdin=PASSWORD + "\nthe next line\n")
    assert result.code == 0, result
    assert result.out == "password of tanaka set\n"
    assert PASSWORD not in result.out + result.err
    with Engine(db_url) as engine:
        assert engine.accounts.check_password("tanaka", PASSWORD).login == "tanaka"
    assert "password set" in irflow("user", "list").out
    assert irflow("user", "password", "tanaka", stdin=PASSWORD + "\r\n").code == 0


@pytest.mark.parametrize("typed", ["", "\n", "short\n", "eleven-char\n"])
def test_a_short_password_is_refused_clearly_and_nothing_written(
    irflow: Run, footprint: Any, typed: str
) -> None:
    irflow("user", "add", "tanaka", "--org", "sanjo")
    before = footprint()
    refused(irflow("user", "password", "tanaka", stdin=typed), 2, "at least 12 characters")
    assert footprint() == before


def test_a_password_for_an_unknown_login_is_not_read(irflow: Run, footprint: Any) -> None:
    before = footprint()
    refused(irflow("user", "password", "nobody", stdin=PASSWORD), 3, "no account 'nobody'")
    assert footprint() == before


# ---------------------------------------------------------------------------- token


def test_token_create_prints_the_token_alone(irflow: Run, db_url: str) -> None:
    """stdout is the token and a newline (for `> token.txt`); what it is goes to stderr."""
    irflow("user", "add", "tanaka", "--org", "三条市")
    result = irflow("token", "create", "tanaka", "--label", "ci")
    assert result.code == 0, result
    assert re.fullmatch(r"irf_[0-9A-Za-z]{38}\n", result.out)
    secret = result.out.strip()
    assert tokens.well_formed(secret)
    assert secret not in result.err
    assert "token 1 of tanaka, 三条市 (sanjo), made: read-write, expires" in result.err
    assert "shown this once" in result.err
    with Engine(db_url) as engine:
        principal = engine.accounts.authenticate(secret)
    assert (principal.org_id, principal.read_only) == ("sanjo", False)


def test_token_create_json(irflow: Run, db_url: str) -> None:
    irflow("user", "add", "tanaka", "--org", "sanjo")
    made = irflow("token", "create", "tanaka", "--read-only", "--expires", "12h", "--json")
    assert made.code == 0, made
    shown = made.json()
    assert set(shown) == {"id", "token", "login", "org", "expires"}
    assert (shown["id"], shown["login"], shown["org"]) == (1, "tanaka", "sanjo")
    (info,) = irflow("token", "list", "--json").json()
    created = datetime.fromisoformat(info["created_at"])
    assert datetime.fromisoformat(shown["expires"]) == created + timedelta(hours=12)
    with Engine(db_url) as engine:
        assert engine.accounts.authenticate(shown["token"]).read_only
    never = irflow("token", "create", "tanaka", "--expires", "never", "--json")
    assert never.json()["expires"] is None
    assert "never expires (revoke it when it is no longer used)" in never.err
    assert irflow("token", "create", "tanaka", "--expires", "90d", "--json").code == 0


@pytest.mark.parametrize(
    ("expires", "words"),
    [("0d", "at least 1h"), ("5w", "write it like 90d"), ("", "write it like"),
     ("3651d", "3650d (ten years) at most"), ("-1d", "write it like"), ("1.5d", "write it like")],
)  # fmt: skip
def test_a_lifetime_not_understood_is_refused_and_nothing_written(
    irflow: Run, footprint: Any, expires: str, words: str
) -> None:
    irflow("user", "add", "tanaka", "--org", "sanjo")
    before = footprint()
    refused(irflow("token", "create", "tanaka", "--expires", expires), 2, words)
    assert footprint() == before


def test_token_create_for_an_unknown_or_disabled_account_is_refused(
    irflow: Run, footprint: Any
) -> None:
    before = footprint()
    refused(irflow("token", "create", "nobody"), 3, "no account 'nobody'")
    irflow("user", "add", "tanaka", "--org", "sanjo")
    irflow("user", "disable", "tanaka")
    before = footprint()
    refused(irflow("token", "create", "tanaka"), 2, "irflow user enable tanaka")
    assert footprint() == before


def test_token_list_never_shows_a_token(irflow: Run) -> None:
    irflow("user", "add", "tanaka", "--org", "sanjo")
    irflow("user", "add", "suzuki", "--org", "pref-niigata")
    first = irflow("token", "create", "tanaka", "--label", "dashboard").out.strip()
    second = irflow("token", "create", "suzuki", "--read-only").out.strip()
    listed = irflow("token", "list")
    assert first not in listed.out
    assert second not in listed.out
    lines = listed.out.splitlines()
    assert f"irf_…{first[-4:]}  tanaka, 三条市 (sanjo)  dashboard  read-write" in lines[0]
    assert lines[0].endswith("[live]")
    assert "read-only" in lines[1]
    shown = irflow("token", "list", "--json")
    assert first not in shown.out
    assert tokens.digest(first) not in shown.out
    assert [t["login"] for t in shown.json()] == ["tanaka", "suzuki"]
    assert set(shown.json()[0]) == {"id", "login", "org", "label", "last4", "read_only",
                                    "created_at", "expires_at", "revoked_at", "status"}  # fmt: skip
    assert [t["id"] for t in irflow("token", "list", "--login", "suzuki", "--json").json()] == [2]
    refused(irflow("token", "list", "--login", "nobody"), 3, "no account")
    irflow("user", "disable", "tanaka")
    assert "[refused: its account is disabled]" in irflow("token", "list").out


def test_token_revoke_and_rotate(irflow: Run, db_url: str, footprint: Any) -> None:
    irflow("user", "add", "tanaka", "--org", "sanjo")
    old = irflow("token", "create", "tanaka", "--label", "ci").out.strip()
    rotated = irflow("token", "rotate", "1")
    assert rotated.code == 0, rotated
    assert re.fullmatch(r"irf_[0-9A-Za-z]{38}\n", rotated.out)
    new = rotated.out.strip()
    assert "in place of token 1 (revoked)" in rotated.err
    with Engine(db_url) as engine:
        assert engine.accounts.authenticate(new).token_id == 2
        with pytest.raises(Unauthenticated):
            engine.accounts.authenticate(old)
    assert irflow("token", "list", "--json").json()[1]["label"] == "ci"
    revoked = irflow("token", "revoke", "2")
    assert revoked.out == f"token 2 (irf_…{new[-4:]}, tanaka) revoked\n"
    before = footprint()
    assert "was revoked already" in irflow("token", "revoke", "2").out
    refused(irflow("token", "rotate", "2"), 2, "revoked already")
    refused(irflow("token", "revoke", "9"), 3, "no token with id 9")
    refused(irflow("token", "rotate", "9"), 3, "no token with id 9")
    assert footprint() == before
    with Engine(db_url) as engine, pytest.raises(Unauthenticated):
        engine.accounts.authenticate(new)
    assert irflow("token", "rotate", "1", "--json").code == 2  # rotated, so revoked


# ---------------------------------------------------------------------------- audit


def test_audit_prints_the_security_log_in_japan_time(irflow: Run, db_url: str) -> None:
    irflow("user", "add", "tanaka", "--org", "sanjo")
    secret = irflow("token", "create", "tanaka").out.strip()
    irflow("token", "revoke", "1")
    with Engine(db_url) as engine, pytest.raises(Unauthenticated):
        engine.accounts.authenticate(secret, address="192.0.2.8")
    result = irflow("audit")
    assert result.code == 0
    lines = result.out.splitlines()
    assert [line.split()[3] for line in lines] == [
        "user_added", "token_created", "token_revoked", "token_refused",
    ]  # fmt: skip
    assert re.match(
        r"\s+1  \d{4}-\d\d-\d\d \d\d:\d\d  user_added\s+tanaka, 三条市 \(sanjo\)", lines[0]
    )
    assert "from 192.0.2.8" in lines[3]
    assert "reason=revoked" in lines[3]
    assert secret not in result.out
    events = irflow("audit", "--json").json()
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    jst = to_jst(datetime.fromisoformat(events[0]["at"]))
    assert jst.strftime("%Y-%m-%d %H:%M") in lines[0]
    assert [e["action"] for e in irflow("audit", "--limit", "1", "--json").json()] == [
        "token_refused"
    ]
    future = (jst + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert irflow("audit", "--since", future).out == f"no security events since {future}\n"
    assert irflow("audit", "--since", future, "--json").json() == []
    refused(irflow("audit", "--since", "yesterday"), 2, "not ISO 8601")
    assert irflow("audit", "--limit", "0").code == 2


# ---------------------------------------------------------------------------- verify


def test_verify_says_how_many_security_events_it_checked(irflow: Run) -> None:
    irflow("user", "add", "tanaka", "--org", "sanjo")
    irflow("token", "create", "tanaka")
    result = irflow("verify")
    assert result.code == 0
    assert result.out == (
        "no cases to verify\n"
        "security log: ok, 2 security events chained; seals not checked "
        "($IRFLOW_AUDIT_KEY is not set)\n"
    )


def test_verify_of_cases_prints_as_before_with_the_log_s_line_after(irflow: Run) -> None:
    irflow("case", "open", "--reporter", "三条市", "--title", "障害")
    result = irflow("verify")
    assert result.out.splitlines() == [
        "case 1: ok, 1 events chained",
        "1 cases verified, 0 broken; event seals not checked ($IRFLOW_AUDIT_KEY is not set)",
        "security log: ok, 0 security events chained; seals not checked ($IRFLOW_AUDIT_KEY "
        "is not set)",
    ]
    assert irflow("verify", "--json").json() == [
        {"case": 1, "events": 1, "ok": True, "bad_seq": None, "problem": None}
    ]
    # One case, or the cases of one organisation: the security log is the administrator's.
    assert "security log" not in irflow("verify", "1").out
    assert "security log" not in irflow("verify", "--as", "sanjo").out


def test_verify_exits_1_when_the_security_log_is_broken(irflow: Run, db_url: str) -> None:
    irflow("user", "add", "tanaka", "--org", "sanjo")
    irflow("user", "disable", "tanaka")
    irflow("case", "open", "--reporter", "三条市", "--title", "障害")
    sa = create_engine(database_url(db_url))
    with sa.begin() as conn:
        conn.execute(text("UPDATE security_event SET login = 'sato' WHERE seq = 2"))
    sa.dispose()
    result = irflow("verify")
    assert result.code == 1
    assert "case 1: ok" in result.out
    assert result.out.splitlines()[-1] == (
        "security log: BROKEN at event 2: its content does not match its hash (changed after "
        "it was written)"
    )
    as_json = irflow("verify", "--json")
    assert as_json.code == 1
    assert as_json.json() == [{"case": 1, "events": 1, "ok": True, "bad_seq": None,
                               "problem": None}]  # fmt: skip
    assert as_json.err.startswith("irflow: security log: BROKEN at event 2")
    assert irflow("verify", "1").code == 0


def test_verify_checks_the_log_s_seals_under_the_audit_key(
    irflow: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, "a-secret-kept-outside-the-database")
    irflow("user", "add", "tanaka", "--org", "sanjo")
    assert "security log: ok, 1 security events chained; 1 seals checked" in irflow("verify").out


def test_verify_on_a_database_before_accounts(irflow: Run, db_url: str) -> None:
    """A database `irflow init` has not upgraded yet: its cases verify, and the security
    log is said not to exist yet."""
    from alembic import command

    from irflow.engine import database

    irflow("case", "open", "--reporter", "三条市", "--title", "障害")
    with Engine(db_url) as engine:
        config = database._alembic_config(engine.sa)
        with engine.sa.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0005")
    result = irflow("verify")
    assert result.code == 0, result
    assert result.out.splitlines()[-1] == "no security log yet (run `irflow init` to add it)"


# ---------------------------------------------------------------------------- help


HELPS = [
    (["user", "--help"], ["irflow user add tanaka --org 三条市", "Logins: 2 to 64"]),
    (["token", "--help"], ["irf_", "checksum", "irflow token rotate 3", "read-only"]),
    (["token", "create", "--help"], ["--expires", "never", "shown", "--read-only"]),
    (["user", "password", "--help"], ["stdin", "12 characters", "< password.txt"]),
    (["audit", "--help"], ["--since", "Japan time", "irflow audit --limit 20 --json"]),
    (["verify", "--help"], ["security log"]),
    (["--help"], ["irflow token create tanaka", "irflow audit"]),
]


@pytest.mark.parametrize(("command", "words"), HELPS, ids=[" ".join(c) for c, _ in HELPS])
def test_help_teaches(
    command: list[str],
    words: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each command's help says what it does, with examples."""
    monkeypatch.setattr(sys, "argv", ["irflow", *command])
    with pytest.raises(SystemExit) as ended:
        main()
    assert ended.value.code in (0, None)
    out = capsys.readouterr().out
    for word in words:
        assert word in out, word


def test_the_command_line_loads_no_engine_nor_argon2_for_help() -> None:
    """`irflow --help` stays fast: the accounts' commands import the engine inside them."""
    code = (
        "import sys; import irflow.cli.main; "
        "print('argon2' in sys.modules, 'irflow.engine.facade' in sys.modules, "
        "'irflow.engine.accounts' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]
