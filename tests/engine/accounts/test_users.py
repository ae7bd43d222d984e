"""Accounts and passwords: who may be added, signing in, and what a refusal leaves."""

from __future__ import annotations

import pytest

from irflow.engine.accounts import Accounts, passwords
from irflow.engine.facade import Engine
from irflow.errors import AmbiguousName, InvalidInput, NotFound, Unauthenticated
from tests.engine.accounts.conftest import PASSWORD, actions, footprint, rows

REAL_HASHER = passwords.hasher
"""The module's own hasher, before the tests' fixture puts a cheap one in its place."""


def test_an_account_belongs_to_an_organisation_found_by_id_code_or_name(
    accounts: Accounts,
) -> None:
    """``org`` is found as the directory finds it; the account starts enabled, without
    a password."""
    by_name = accounts.add_user("tanaka", org="三条市", name="田中 一郎")
    by_code = accounts.add_user("sato", org="152048")
    by_id = accounts.add_user("suzuki", org="pref-niigata")
    assert (by_name.org_id, by_code.org_id, by_id.org_id) == ("sanjo", "sanjo", "pref-niigata")
    assert by_name.name == "田中 一郎"
    assert by_code.name is None
    assert not by_name.disabled
    assert not by_name.has_password
    assert by_name.as_json() == {
        "id": by_name.id,
        "login": "tanaka",
        "org": "sanjo",
        "name": "田中 一郎",
        "disabled": False,
        "has_password": False,
        "created_at": by_name.created_at.isoformat(),
    }
    assert [a.login for a in accounts.users()] == ["sato", "suzuki", "tanaka"]
    assert [a.login for a in accounts.users(org="三条市")] == ["sato", "tanaka"]
    assert accounts.users(org="pref-yamaguchi") == []
    assert actions(accounts) == ["user_added"] * 3


def test_a_login_taken_already_is_refused_and_nothing_is_written(
    engine: Engine, accounts: Accounts
) -> None:
    accounts.add_user("tanaka", org="sanjo")
    before = footprint(engine)
    with pytest.raises(InvalidInput, match="there is an account 'tanaka' already") as refused:
        accounts.add_user("tanaka", org="pref-niigata")
    assert refused.value.exit_code == 2
    assert footprint(engine) == before


def test_an_unknown_organisation_is_not_found_and_nothing_is_written(
    engine: Engine, accounts: Accounts
) -> None:
    before = footprint(engine)
    with pytest.raises(NotFound, match="no organisation 'nowhere'") as refused:
        accounts.add_user("tanaka", org="nowhere")
    assert refused.value.exit_code == 3
    with pytest.raises(AmbiguousName):
        accounts.add_user("tanaka", org="山口")
    with pytest.raises(NotFound):
        accounts.users(org="nowhere")
    assert footprint(engine) == before


@pytest.mark.parametrize(
    "login",
    [
        "",
        "t",
        "Tanaka",
        "1tanaka",
        "ta naka",
        "tanaka@sanjo",
        "田中",
        "t" * 65,
        "-tanaka",
        "tanaka\n",
    ],
)
def test_a_login_against_the_rule_is_refused_saying_the_rule(
    engine: Engine, accounts: Accounts, login: str
) -> None:
    before = footprint(engine)
    with pytest.raises(InvalidInput, match="lower-case letters a-z, digits") as refused:
        accounts.add_user(login, org="sanjo")
    assert "2 to 64 characters" in refused.value.message
    assert footprint(engine) == before


def test_logins_at_the_rule_s_edges_are_taken(accounts: Accounts) -> None:
    for login in ("ab", "a" * 64, "tanaka.ichiro", "t_2", "k-9"):
        assert accounts.add_user(login, org="sanjo").login == login


def test_disable_and_enable_are_recorded_and_a_repeat_changes_nothing(
    engine: Engine, accounts: Accounts
) -> None:
    accounts.add_user("tanaka", org="sanjo")
    assert accounts.disable("tanaka").disabled
    before = footprint(engine)
    assert accounts.disable("tanaka").disabled
    assert footprint(engine) == before
    assert not accounts.enable("tanaka").disabled
    assert actions(accounts) == ["user_added", "user_disabled", "user_enabled"]
    with pytest.raises(NotFound, match="no account 'nobody'"):
        accounts.disable("nobody")
    with pytest.raises(NotFound):
        accounts.enable("nobody")


def test_a_password_is_stored_as_an_argon2id_hash_only(engine: Engine, accounts: Accounts) -> None:
    accounts.add_user("tanaka", org="sanjo")
    accounts.set_password("tanaka", PASSWORD)
    (stored,) = rows(engine, "account")
    assert str(stored[5]).startswith("$argon2id$")
    assert PASSWORD not in repr(footprint(engine))
    assert accounts.user("tanaka").has_password
    assert actions(accounts) == ["user_added", "password_set"]


def test_the_hasher_is_argon2id_with_argon2_cffi_s_defaults() -> None:
    """Outside the tests' cheap hasher, passwords get argon2-cffi's default work."""
    from argon2 import PasswordHasher, Type

    real = REAL_HASHER()
    default = PasswordHasher()
    assert real.type is Type.ID
    assert (real.time_cost, real.memory_cost) == (default.time_cost, default.memory_cost)


@pytest.mark.parametrize("password", ["", "short", "x" * 11, "y" * 1025])
def test_a_short_or_huge_password_is_refused_and_nothing_is_written(
    engine: Engine, accounts: Accounts, password: str
) -> None:
    accounts.add_user("tanaka", org="sanjo")
    before = footprint(engine)
    with pytest.raises(InvalidInput, match="characters") as refused:
        accounts.set_password("tanaka", password)
    assert f"has {len(password)}" in refused.value.message
    if len(password) < 12:
        assert "at least 12 characters" in refused.value.message
    assert footprint(engine) == before


def test_a_password_for_an_unknown_login_is_not_found(engine: Engine, accounts: Accounts) -> None:
    before = footprint(engine)
    with pytest.raises(NotFound):
        accounts.set_password("nobody", PASSWORD)
    assert footprint(engine) == before


def test_signing_in_gives_the_account_s_principal_and_is_recorded(accounts: Accounts) -> None:
    account = accounts.add_user("tanaka", org="sanjo", name="田中")
    accounts.set_password("tanaka", PASSWORD)
    principal = accounts.check_password("tanaka", PASSWORD, address="192.0.2.7")
    assert principal.account_id == account.id
    assert (principal.login, principal.name, principal.org_id) == ("tanaka", "田中", "sanjo")
    assert principal.token_id is None
    assert not principal.read_only
    event = accounts.security_log()[-1]
    assert (event.action, event.login, event.org_id, event.address) == (
        "signed_in", "tanaka", "sanjo", "192.0.2.7",
    )  # fmt: skip


@pytest.mark.parametrize("case", ["wrong password", "unknown login", "no password set",
                                  "account disabled", "login against the rule"])  # fmt: skip
def test_every_failed_sign_in_is_refused_alike_and_recorded(
    engine: Engine, accounts: Accounts, case: str
) -> None:
    """A wrong password, an unknown login, no password, a disabled account: the same
    words, and a ``sign_in_failed`` event that never holds the password given."""
    accounts.add_user("tanaka", org="sanjo")
    accounts.add_user("sato", org="sanjo")
    accounts.set_password("tanaka", PASSWORD)
    accounts.disable("sato")
    accounts.set_password("sato", PASSWORD)
    login, given = {
        "wrong password": ("tanaka", "not the password at all"),
        "unknown login": ("nobody", PASSWORD),
        "no password set": ("suzuki", PASSWORD),
        "account disabled": ("sato", PASSWORD),
        "login against the rule": ("Not A Login", PASSWORD),
    }[case]
    if case == "no password set":
        accounts.add_user("suzuki", org="sanjo")
    before = footprint(engine)
    with pytest.raises(Unauthenticated) as refused:
        accounts.check_password(login, given, address="192.0.2.9")
    assert refused.value.message.startswith("the login or the password is wrong")
    assert refused.value.exit_code == 4
    event = accounts.security_log()[-1]
    assert event.action == "sign_in_failed"
    assert event.address == "192.0.2.9"
    expected = "unknown login" if case == "login against the rule" else case
    assert event.detail == {"reason": expected}
    assert event.login == (login if login in ("tanaka", "sato", "suzuki") else None)
    after = footprint(engine)
    assert (after["account"], after["api_token"]) == (before["account"], before["api_token"])
    assert len(after["security_event"]) == len(before["security_event"]) + 1
    assert given not in repr(after)


def test_an_unknown_login_costs_one_hash_check_as_a_known_one_does(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No timing tells an unknown login from a known one: each checks one argon2 hash,
    an unknown one against a dummy hash."""
    accounts.add_user("tanaka", org="sanjo")
    accounts.set_password("tanaka", PASSWORD)
    hasher = passwords.hasher()
    checked: list[str] = []

    class Counting:
        def verify(self, stored: str, password: str) -> bool:
            checked.append(stored)
            return bool(hasher.verify(stored, password))

        def __getattr__(self, name: str) -> object:
            return getattr(hasher, name)

    counting = Counting()
    monkeypatch.setattr(passwords, "hasher", lambda: counting)
    for login in ("tanaka", "nobody"):
        with pytest.raises(Unauthenticated):
            accounts.check_password(login, "not the password at all")
    assert len(checked) == 2
    assert checked[1] == passwords.dummy_hash()
    assert checked[0] != checked[1]


def test_a_hash_of_old_parameters_is_renewed_at_the_next_sign_in(
    engine: Engine, accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    accounts.add_user("tanaka", org="sanjo")
    accounts.set_password("tanaka", PASSWORD)
    (before,) = rows(engine, "account")
    stronger = PasswordHasher(time_cost=2, memory_cost=128, parallelism=1)
    monkeypatch.setattr(passwords, "hasher", lambda: stronger)
    accounts.check_password("tanaka", PASSWORD)
    (after,) = rows(engine, "account")
    assert after[5] != before[5]
    assert "t=2" in str(after[5])
    assert accounts.check_password("tanaka", PASSWORD).login == "tanaka"


def test_a_disabled_account_signs_in_again_once_enabled(accounts: Accounts) -> None:
    accounts.add_user("tanaka", org="sanjo")
    accounts.set_password("tanaka", PASSWORD)
    accounts.disable("tanaka")
    with pytest.raises(Unauthenticated):
        accounts.check_password("tanaka", PASSWORD)
    accounts.enable("tanaka")
    assert accounts.check_password("tanaka", PASSWORD).org_id == "sanjo"


def test_a_name_or_label_too_long_is_refused(engine: Engine, accounts: Accounts) -> None:
    before = footprint(engine)
    with pytest.raises(InvalidInput, match="200 at most"):
        accounts.add_user("tanaka", org="sanjo", name="名" * 201)
    assert footprint(engine) == before
    assert accounts.add_user("tanaka", org="sanjo", name="  ").name is None


def test_an_account_s_organisation_must_exist_in_the_database(engine: Engine) -> None:
    """The account row refers to the directory: the foreign key holds."""
    with engine.sa.connect() as conn:
        fks = conn.dialect.get_foreign_keys(conn, "account")
    assert [(fk["constrained_columns"], fk["referred_table"]) for fk in fks] == [
        (["org_id"], "organisation")
    ]
