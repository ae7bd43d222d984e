"""The security log: every action recorded once, in one line of hashes that
``verify_security_log`` proves, sealed under the audit key, and never a secret in it."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import text

from irflow.engine.accounts import ACTIONS, Accounts, tokens
from irflow.engine.accounts.chain import append_record
from irflow.engine.accounts.store import Reader
from irflow.engine.facade import Engine
from irflow.engine.timeline import AUDIT_KEY_ENV, GENESIS
from irflow.errors import InvalidInput, Unauthenticated
from irflow.testing import MovableClock
from tests.engine.accounts.conftest import PASSWORD, actions, rows

KEY = "a-secret-kept-outside-the-database"


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.sa.begin() as conn:
        conn.execute(text(statement), params)


def every_action(accounts: Accounts) -> dict[str, str]:
    """One of each action the log records; the secrets and password used."""
    accounts.add_user("tanaka", org="sanjo")
    accounts.set_password("tanaka", PASSWORD)
    accounts.check_password("tanaka", PASSWORD, address="192.0.2.1")
    with pytest.raises(Unauthenticated):
        accounts.check_password("tanaka", "not the password at all", address="192.0.2.1")
    first, secret = accounts.create_token("tanaka", label="ci")
    _, rotated = accounts.rotate(first.id)
    accounts.revoke(accounts.tokens()[-1].id)
    with pytest.raises(Unauthenticated):
        accounts.authenticate(rotated, address="192.0.2.2")
    accounts.disable("tanaka")
    accounts.enable("tanaka")
    return {"first": secret, "rotated": rotated}


def test_every_action_is_recorded_once_in_order(accounts: Accounts) -> None:
    every_action(accounts)
    assert actions(accounts) == [
        "user_added", "password_set", "signed_in", "sign_in_failed", "token_created",
        "token_rotated", "token_revoked", "token_refused", "user_disabled", "user_enabled",
    ]  # fmt: skip
    assert sorted(set(actions(accounts))) == sorted(ACTIONS)


def test_the_log_is_one_chain_of_hashes_that_verifies(accounts: Accounts) -> None:
    every_action(accounts)
    log = accounts.security_log()
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    assert log[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(log))
    report = accounts.verify_security_log()
    assert report.ok
    assert (report.events, report.bad_seq, report.problem, report.seals) == (10, None, None, None)
    assert report.problems == []
    assert report.as_json() == {"events": 10, "ok": True, "bad_seq": None, "problem": None}


def test_an_empty_log_verifies(accounts: Accounts) -> None:
    assert accounts.verify_security_log().ok
    assert accounts.verify_security_log().events == 0


def test_no_secret_password_or_hash_is_ever_written_to_the_log(
    engine: Engine, accounts: Accounts
) -> None:
    used = every_action(accounts)
    logged = repr(rows(engine, "security_event"))
    stored = rows(engine, "api_token") + rows(engine, "account")
    for secret in used.values():
        assert secret not in logged
        assert tokens.digest(secret) not in logged
    assert PASSWORD not in logged
    assert "$argon2" not in logged
    for row in stored:
        for value in row:
            if isinstance(value, str) and len(value) >= 32:
                assert value not in logged  # token digests, password hashes


def test_each_event_names_its_account_organisation_and_address(accounts: Accounts) -> None:
    every_action(accounts)
    by_action = {e.action: e for e in accounts.security_log()}
    assert by_action["signed_in"].address == "192.0.2.1"
    assert by_action["token_refused"].address == "192.0.2.2"
    assert by_action["token_refused"].detail["reason"] == "revoked"
    assert all(e.login == "tanaka" and e.org_id == "sanjo" for e in by_action.values())
    shape = by_action["user_added"].as_json()
    assert set(shape) == {"seq", "at", "action", "login", "org", "address", "detail", "hash",
                          "prev_hash"}  # fmt: skip


def test_since_and_limit_choose_the_events(accounts: Accounts, clock: MovableClock) -> None:
    accounts.add_user("tanaka", org="sanjo")
    clock.advance(timedelta(hours=1))
    middle = clock.now()
    accounts.disable("tanaka")
    clock.advance(timedelta(hours=1))
    accounts.enable("tanaka")
    assert actions(accounts) == ["user_added", "user_disabled", "user_enabled"]
    assert [e.action for e in accounts.security_log(since=middle)] == [
        "user_disabled", "user_enabled",
    ]  # fmt: skip
    assert [e.action for e in accounts.security_log(limit=1)] == ["user_enabled"]
    assert [e.seq for e in accounts.security_log(since=middle, limit=5)] == [2, 3]
    naive = middle.astimezone(MovableClock().now().tzinfo).replace(tzinfo=None)
    assert len(accounts.security_log(since=naive)) == 2  # a naive moment is Japan time
    with pytest.raises(InvalidInput, match="limit"):
        accounts.security_log(limit=0)


TAMPERS: dict[str, tuple[str, int, str]] = {
    # what is done by SQL: (statement, the seq verify names, words of the problem)
    "detail changed": (
        "UPDATE security_event SET detail = '{\"reason\":\"none\"}' WHERE seq = 4",
        4, "does not match its hash",
    ),
    "login changed": ("UPDATE security_event SET login = 'sato' WHERE seq = 3", 3, "hash"),
    "address changed": ("UPDATE security_event SET address = '203.0.113.9' WHERE seq = 3", 3,
                        "hash"),
    "event removed": ("DELETE FROM security_event WHERE seq = 5", 6, "event 5 is missing"),
    "last events removed": ("DELETE FROM security_event WHERE seq >= 9", 9, "head records 10"),
    "event added behind irflow's back": (
        "INSERT INTO security_event SELECT 11, at, action, login, org_id, address, detail, "
        "hash, hash, seal FROM security_event WHERE seq = 10",
        11, "hash",
    ),
    "head moved back": ("UPDATE security_head SET last_seq = 9", 10, "head records 9"),
    "event 0 slipped in": (
        "INSERT INTO security_event SELECT 0, at, action, login, org_id, address, detail, "
        "prev_hash, hash, seal FROM security_event WHERE seq = 1",
        0, "event 1 is missing (found 0)",
    ),
    "head row removed": ("DELETE FROM security_head", 1, "head row is gone"),
}  # fmt: skip


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_a_change_made_behind_irflow_s_back_is_named_with_its_event(
    engine: Engine, accounts: Accounts, tamper: str
) -> None:
    every_action(accounts)
    statement, seq, words = TAMPERS[tamper]
    sql(engine, statement)
    report = accounts.verify_security_log()
    assert not report.ok
    assert report.bad_seq == seq
    assert words in (report.problem or "")
    assert report.problems == [f"event {seq}: {report.problem}"]


def rewrite(engine: Engine, seq: int) -> None:
    """Change event ``seq``'s address and recompute every hash from it on, and the head:
    a rewrite consistent in everything but the seals."""
    events = rows(engine, "security_event")
    prev = events[seq - 2][8] if seq > 1 else ""
    for ev in events[seq - 1 :]:
        at = engine.ctx.ledger.read_moment(ev[1])
        address = "203.0.113.66" if ev[0] == seq else ev[5]
        record = append_record(seq=ev[0], prev_hash=prev, at=at, action=ev[2], login=ev[3],
                               org_id=ev[4], address=address, detail=json.loads(ev[6]),
                               key=None)  # fmt: skip
        sql(engine, "UPDATE security_event SET address = :a, prev_hash = :p, hash = :h "
            "WHERE seq = :s", a=address, p=record.prev_hash, h=record.hash, s=ev[0])  # fmt: skip
        prev = record.hash
    sql(engine, "UPDATE security_head SET last_hash = :h", h=prev)


def test_without_a_key_a_consistent_rewrite_passes_with_a_key_its_seals_fail(
    db_url: str, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sealed under ``$IRFLOW_AUDIT_KEY``: a writer of the database without the key who
    recomputes every hash is found by the first seal that does not match."""
    monkeypatch.setenv(AUDIT_KEY_ENV, KEY)
    with Engine(db_url, clock=clock) as engine:
        engine.init()
        every_action(engine.accounts)
        report = engine.accounts.verify_security_log()
        assert report.ok
        assert report.seals == 10
        assert engine.accounts.seals_checked
        rewrite(engine, 4)
        broken = engine.accounts.verify_security_log()
        assert (broken.ok, broken.bad_seq) == (False, 4)
        assert "seal does not match" in (broken.problem or "")
    monkeypatch.delenv(AUDIT_KEY_ENV)
    with Engine(db_url, clock=clock) as keyless:
        assert keyless.accounts.verify_security_log().ok  # the hashes alone agree
        assert keyless.accounts.verify_security_log().seals is None


def test_events_written_without_the_key_are_named_when_verified_with_it(
    db_url: str, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Engine(db_url, clock=clock) as engine:
        engine.init()
        engine.accounts.add_user("tanaka", org="sanjo")
    monkeypatch.setenv(AUDIT_KEY_ENV, KEY)
    with Engine(db_url, clock=clock) as keyed:
        report = keyed.accounts.verify_security_log()
        assert (report.ok, report.bad_seq) == (False, 1)
        assert "carries no seal" in (report.problem or "")


def test_verify_reads_the_log_a_page_at_a_time(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log is read in pages in one snapshot: memory holds a page, not the log."""
    from irflow.engine.accounts import manager

    monkeypatch.setattr(manager, "VERIFY_BATCH", 3)
    every_action(accounts)
    pages: list[int] = []
    real = accounts.store.sql["events_after"]
    assert "LIMIT" in real
    rows_of = Reader._rows

    def counted(self: Reader, name: str, *params: object) -> list[tuple[object, ...]]:
        found = rows_of(self, name, *params)
        if name == "events_after":
            pages.append(len(found))
        return found

    monkeypatch.setattr(Reader, "_rows", counted)
    assert accounts.verify_security_log().events == 10
    assert pages == [3, 3, 3, 1, 0]


def hammer(workers: int, each: int, work: Callable[[int, int], None]) -> list[BaseException]:
    """Run ``work(worker, n)`` ``each`` times in ``workers`` threads at once."""
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def run(worker: int) -> None:
        start.wait()
        for n in range(each):
            try:
                work(worker, n)
            except BaseException as exc:  # reported below
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_writers_keep_the_chain_one_line(
    db_url: str, clock: MovableClock, engine: Engine
) -> None:
    """Eight threads over two engines (as two processes would), making tokens and having
    forged ones refused at once: every event is one seq of one chain, none lost."""
    engine.accounts.add_user("tanaka", org="sanjo")
    with Engine(db_url, clock=clock) as other:
        engines = [engine, other]

        def work(worker: int, n: int) -> None:
            accounts = engines[worker % 2].accounts
            if n % 2:
                accounts.create_token("tanaka", label=f"w{worker}-{n}")
            else:
                with pytest.raises(Unauthenticated):
                    accounts.authenticate(tokens.new_secret(), address=f"192.0.2.{worker}")

        assert hammer(8, 10, work) == []
    log = engine.accounts.security_log()
    assert [e.seq for e in log] == list(range(1, 82))
    assert len(engine.accounts.tokens()) == 40
    report = engine.accounts.verify_security_log()
    assert report.ok, report
    assert report.events == 81


def test_two_adds_of_one_login_at_once_make_one_account(
    db_url: str, clock: MovableClock, engine: Engine
) -> None:
    """The login is checked under the log's lock: one add wins, the other is refused."""
    with Engine(db_url, clock=clock) as other:
        engines = [engine, other]
        outcomes: list[str] = []

        def work(worker: int, _n: int) -> None:
            try:
                engines[worker % 2].accounts.add_user("tanaka", org="sanjo")
                outcomes.append("added")
            except InvalidInput:
                outcomes.append("refused")

        assert hammer(6, 1, work) == []
    assert sorted(outcomes) == ["added"] + ["refused"] * 5
    assert [a.login for a in engine.accounts.users()] == ["tanaka"]
    assert actions(engine.accounts) == ["user_added"]
