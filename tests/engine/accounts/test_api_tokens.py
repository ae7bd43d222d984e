"""API tokens: made, listed, revoked and rotated; accepted exactly while live and their
account enabled, from the next request on; never stored or shown but as a hash and
four characters."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irflow.engine.accounts import Accounts, tokens
from irflow.engine.facade import Engine
from irflow.errors import InvalidInput, NotFound, Unauthenticated
from irflow.testing import MovableClock
from tests.engine.accounts.conftest import actions, footprint, rows


@pytest.fixture
def tanaka(accounts: Accounts) -> str:
    accounts.add_user("tanaka", org="sanjo", name="田中")
    return "tanaka"


def test_a_token_proves_its_account_s_organisation(accounts: Accounts, tanaka: str) -> None:
    info, secret = accounts.create_token(tanaka, label="dashboard")
    assert tokens.well_formed(secret)
    principal = accounts.authenticate(secret, address="192.0.2.1")
    assert (principal.login, principal.org_id, principal.name) == ("tanaka", "sanjo", "田中")
    assert principal.token_id == info.id
    assert not principal.read_only
    assert (info.login, info.org_id, info.label, info.last4) == (
        "tanaka", "sanjo", "dashboard", secret[-4:],
    )  # fmt: skip


def test_only_the_hash_and_the_last_four_characters_are_stored(
    engine: Engine, accounts: Accounts, tanaka: str
) -> None:
    """No table holds the secret; the token row holds its SHA-256 and last four; the JSON
    of a token holds neither the secret nor its hash."""
    info, secret = accounts.create_token(tanaka)
    stored = repr(footprint(engine))
    assert secret not in stored
    assert secret[4:-4] not in stored
    digest = hashlib.sha256(secret.encode()).hexdigest()
    (row,) = rows(engine, "api_token")
    assert digest in row
    assert secret[-4:] in row
    events = repr(rows(engine, "security_event"))
    assert digest not in events
    shown = repr(info.as_json()) + repr(accounts.tokens()) + repr(accounts.security_log())
    assert secret not in shown
    assert digest not in shown
    assert set(info.as_json()) == {"id", "login", "org", "label", "last4", "read_only",
                                   "created_at", "expires_at", "revoked_at"}  # fmt: skip


def test_a_read_only_token_says_so(accounts: Accounts, tanaka: str) -> None:
    info, secret = accounts.create_token(tanaka, read_only=True)
    assert info.read_only
    assert accounts.authenticate(secret).read_only


def test_a_token_expires_after_its_lifetime(
    accounts: Accounts, tanaka: str, clock: MovableClock
) -> None:
    """Ninety days by default: accepted a second before, refused at the moment itself."""
    info, secret = accounts.create_token(tanaka)
    assert info.expires_at == info.created_at + timedelta(days=90)
    clock.advance(timedelta(days=90) - timedelta(seconds=1))
    accounts.authenticate(secret)
    assert info.status(clock.now()) == "live"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthenticated, match="unknown, revoked or expired"):
        accounts.authenticate(secret, address="192.0.2.2")
    assert info.status(clock.now()) == "expired"
    event = accounts.security_log()[-1]
    assert event.action == "token_refused"
    assert event.detail == {"reason": "expired", "token_id": info.id, "last4": secret[-4:]}
    assert (event.login, event.org_id, event.address) == ("tanaka", "sanjo", "192.0.2.2")


def test_a_token_without_expiry_never_expires(
    accounts: Accounts, tanaka: str, clock: MovableClock
) -> None:
    info, secret = accounts.create_token(tanaka, expires=None)
    assert info.expires_at is None
    clock.advance(timedelta(days=3650))
    assert accounts.authenticate(secret).token_id == info.id


@pytest.mark.parametrize("lifetime", [timedelta(0), timedelta(seconds=-1),
                                      timedelta(days=999_999_999)])  # fmt: skip
def test_a_lifetime_that_is_not_positive_or_ends_past_the_calendar_is_refused(
    engine: Engine, accounts: Accounts, tanaka: str, lifetime: timedelta
) -> None:
    before = footprint(engine)
    with pytest.raises(InvalidInput, match="lifetime"):
        accounts.create_token(tanaka, expires=lifetime)
    assert footprint(engine) == before


def test_a_token_of_an_unknown_or_disabled_account_is_not_made(
    engine: Engine, accounts: Accounts, tanaka: str
) -> None:
    before = footprint(engine)
    with pytest.raises(NotFound, match="no account 'nobody'"):
        accounts.create_token("nobody")
    assert footprint(engine) == before
    accounts.disable(tanaka)
    before = footprint(engine)
    with pytest.raises(InvalidInput, match="enable it first"):
        accounts.create_token(tanaka)
    assert footprint(engine) == before


def test_a_revoked_token_is_refused_from_the_next_request_on(
    engine: Engine, accounts: Accounts, tanaka: str, db_url: str, clock: MovableClock
) -> None:
    """Revoked by another engine (another process): this one refuses it at once; no
    verdict is cached."""
    info, secret = accounts.create_token(tanaka)
    accounts.authenticate(secret)
    with Engine(db_url, clock=clock) as other:
        revoked = other.accounts.revoke(info.id)
    assert revoked.revoked_at == clock.now()
    assert revoked.status(clock.now()) == "revoked"
    with pytest.raises(Unauthenticated):
        accounts.authenticate(secret)
    before = footprint(engine)
    assert accounts.revoke(info.id) == revoked  # again: nothing changes
    assert footprint(engine) == before
    assert actions(accounts)[-3:] == ["token_created", "token_revoked", "token_refused"]


def test_a_disabled_account_s_tokens_are_refused_until_it_is_enabled(
    accounts: Accounts, tanaka: str, db_url: str, clock: MovableClock
) -> None:
    _, secret = accounts.create_token(tanaka)
    with Engine(db_url, clock=clock) as other:
        other.accounts.disable(tanaka)
    with pytest.raises(Unauthenticated):
        accounts.authenticate(secret)
    assert accounts.security_log()[-1].detail["reason"] == "account disabled"
    accounts.enable(tanaka)
    assert accounts.authenticate(secret).login == tanaka


def test_an_unknown_token_is_refused_and_recorded_without_an_account(
    engine: Engine, accounts: Accounts
) -> None:
    """A token of the right shape that was never made: refused, recorded with its last
    four characters and the address, and nothing else changes."""
    secret = tokens.new_secret()
    before = footprint(engine)
    with pytest.raises(Unauthenticated, match="not accepted"):
        accounts.authenticate(secret, address="198.51.100.4")
    event = accounts.security_log()[-1]
    assert (event.action, event.login, event.org_id, event.address) == (
        "token_refused", None, None, "198.51.100.4",
    )  # fmt: skip
    assert event.detail == {"reason": "unknown", "last4": secret[-4:]}
    after = footprint(engine)
    assert (after["account"], after["api_token"]) == (before["account"], before["api_token"])


def test_a_malformed_token_is_not_recorded(engine: Engine, accounts: Accounts) -> None:
    """A typo is refused before the database is read: nothing is written either."""
    before = footprint(engine)
    with pytest.raises(Unauthenticated, match="checksum"):
        accounts.authenticate("irf_" + "a" * 38, address="198.51.100.4")
    assert footprint(engine) == before


def test_rotating_makes_a_like_token_and_revokes_the_old_one_at_once(
    accounts: Accounts, tanaka: str, clock: MovableClock
) -> None:
    """Same account, label, access and lifetime; the old one revoked at the moment the
    new one was made; one event."""
    old, old_secret = accounts.create_token(tanaka, label="ci", read_only=True,
                                            expires=timedelta(hours=12))  # fmt: skip
    clock.advance(timedelta(hours=1))
    new, new_secret = accounts.rotate(old.id)
    assert new.id != old.id
    assert new_secret != old_secret
    assert (new.login, new.label, new.read_only) == (tanaka, "ci", True)
    assert new.expires_at == new.created_at + timedelta(hours=12)
    (revoked,) = [t for t in accounts.tokens() if t.id == old.id]
    assert revoked.revoked_at == new.created_at == clock.now()
    assert accounts.authenticate(new_secret).token_id == new.id
    with pytest.raises(Unauthenticated):
        accounts.authenticate(old_secret)
    rotated = accounts.security_log()[-2]
    assert rotated.action == "token_rotated"
    assert rotated.detail["token_id"] == new.id
    assert rotated.detail["revoked_token_id"] == old.id


def test_a_token_that_never_expires_rotates_to_one_that_never_expires(
    accounts: Accounts, tanaka: str
) -> None:
    old, _ = accounts.create_token(tanaka, expires=None)
    new, _ = accounts.rotate(old.id)
    assert new.expires_at is None


def test_rotating_a_revoked_unknown_or_disabled_account_s_token_is_refused(
    engine: Engine, accounts: Accounts, tanaka: str
) -> None:
    revoked, _ = accounts.create_token(tanaka)
    accounts.revoke(revoked.id)
    live, _ = accounts.create_token(tanaka)
    before = footprint(engine)
    with pytest.raises(InvalidInput, match="revoked already"):
        accounts.rotate(revoked.id)
    with pytest.raises(NotFound, match="no token with id 999"):
        accounts.rotate(999)
    with pytest.raises(NotFound):
        accounts.revoke(999)
    assert footprint(engine) == before
    accounts.disable(tanaka)
    before = footprint(engine)
    with pytest.raises(InvalidInput, match="disabled"):
        accounts.rotate(live.id)
    assert footprint(engine) == before


def test_a_rotation_that_fails_half_way_writes_nothing(
    engine: Engine, accounts: Accounts, tanaka: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rotation that fails half-way (the new token's insert) leaves the old token live."""
    old, secret = accounts.create_token(tanaka)
    before = footprint(engine)
    store = accounts.store
    real = store.sql["insert_token"]
    monkeypatch.setitem(store.sql, "insert_token", real.replace("api_token", "no_such_table"))
    with pytest.raises(Exception, match="no_such_table"):
        accounts.rotate(old.id)
    monkeypatch.setitem(store.sql, "insert_token", real)
    assert footprint(engine) == before
    assert accounts.authenticate(secret).token_id == old.id


def test_tokens_are_listed_by_account(accounts: Accounts, tanaka: str) -> None:
    accounts.add_user("suzuki", org="pref-niigata")
    a, _ = accounts.create_token(tanaka)
    b, _ = accounts.create_token("suzuki")
    c, _ = accounts.create_token(tanaka, label="second")
    assert [t.id for t in accounts.tokens()] == [a.id, b.id, c.id]
    assert [t.id for t in accounts.tokens(login=tanaka)] == [a.id, c.id]
    assert accounts.token(b.id).org_id == "pref-niigata"
    with pytest.raises(NotFound):
        accounts.tokens(login="nobody")


# ---------------------------------------------------------------- the property


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[str, int]]:
    """A random sequence of what can happen to tokens and accounts, and the clock."""
    kinds = st.sampled_from(["create", "create", "create_short", "create_never", "revoke",
                             "rotate", "disable", "enable", "wait"])  # fmt: skip
    return draw(st.lists(st.tuples(kinds, st.integers(0, 7)), min_size=1, max_size=14))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations())
def test_authenticate_accepts_exactly_the_live_tokens_of_enabled_accounts(
    accounts: Accounts, clock: MovableClock, ops: list[tuple[str, int]]
) -> None:
    """Over any sequence of creations, revocations, rotations, accounts disabled and
    enabled and the clock moving on, exactly the tokens neither revoked nor expired, of
    accounts that are enabled, are accepted; the log's chain stays whole."""
    run = len(accounts.users())  # each example's accounts are new ones
    logins = [f"u{run}-{n}" for n in range(2)]
    for login in logins:
        accounts.add_user(login, org="sanjo")
    disabled: set[str] = set()
    made: dict[int, tuple[str, str]] = {}  # token id -> (login, secret)
    revoked: set[int] = set()
    expiry: dict[int, object] = {}
    for kind, n in ops:
        login = logins[n % 2]
        ids = sorted(made)
        pick = ids[n % len(ids)] if ids else None
        if kind.startswith("create") and login not in disabled:
            life = {"create": timedelta(days=90), "create_short": timedelta(hours=1),
                    "create_never": None}[kind]  # fmt: skip
            info, secret = accounts.create_token(login, expires=life)
            made[info.id] = (login, secret)
            expiry[info.id] = info.expires_at
        elif kind == "revoke" and pick is not None:
            accounts.revoke(pick)
            revoked.add(pick)
        elif kind == "rotate" and pick is not None:
            owner = made[pick][0]
            if pick in revoked or owner in disabled:
                with pytest.raises(InvalidInput):
                    accounts.rotate(pick)
            else:
                info, secret = accounts.rotate(pick)
                revoked.add(pick)
                made[info.id] = (owner, secret)
                expiry[info.id] = info.expires_at
        elif kind == "disable":
            accounts.disable(login)
            disabled.add(login)
        elif kind == "enable":
            accounts.enable(login)
            disabled.discard(login)
        elif kind == "wait":
            clock.advance(timedelta(minutes=20 * (n + 1)))
        now = clock.now()
        for token_id, (owner, secret) in made.items():
            ends = expiry[token_id]
            live = (
                token_id not in revoked and owner not in disabled and (ends is None or now < ends)  # type: ignore[operator]
            )
            if live:
                assert accounts.authenticate(secret).token_id == token_id
            else:
                with pytest.raises(Unauthenticated):
                    accounts.authenticate(secret)
    assert accounts.verify_security_log().ok
