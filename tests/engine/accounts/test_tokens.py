"""The token's format: a fixed prefix, 32 random base62 characters, a CRC32 checksum;
a token of the wrong shape is refused before any database is read."""

from __future__ import annotations

import re
import string
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irflow.engine.accounts import tokens
from irflow.engine.facade import Engine
from irflow.errors import Unauthenticated

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
bodies = st.text(alphabet=BASE62, min_size=tokens.RANDOM_LENGTH, max_size=tokens.RANDOM_LENGTH)


def token_of(body: str) -> str:
    return tokens.PREFIX + body + tokens.checksum(body)


def decode62(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 62 + BASE62.index(ch)
    return value


@pytest.fixture
def no_database(tmp_path: Path) -> Iterator[Engine]:
    """An engine whose every way to the database fails the test if taken."""
    engine = Engine(f"sqlite:///{tmp_path / 'never.db'}")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the database was read")

    engine.ctx.ledger.connection = refuse  # type: ignore[method-assign,assignment]
    engine.ctx.ready = refuse  # type: ignore[method-assign]
    engine.sa.connect = refuse
    try:
        yield engine
    finally:
        engine.close()


def test_a_new_token_has_the_prefix_the_length_and_its_checksum() -> None:
    """irf_, 32 base62 characters, then six more: the CRC32 of the 32, in base62."""
    secret = tokens.new_secret()
    assert re.fullmatch(r"irf_[0-9A-Za-z]{38}", secret)
    assert len(secret) == tokens.LENGTH == 42
    body = secret[4:36]
    assert decode62(secret[36:]) == zlib.crc32(body.encode())
    assert tokens.well_formed(secret)


def test_new_tokens_differ() -> None:
    """Each token is drawn afresh from the secrets module (190 random bits)."""
    assert len({tokens.new_secret() for _ in range(2000)}) == 2000


def test_the_digest_is_the_sha256_and_last4_the_last_four_characters() -> None:
    secret = tokens.new_secret()
    assert re.fullmatch(r"[0-9a-f]{64}", tokens.digest(secret))
    assert tokens.digest(secret) != tokens.digest(tokens.new_secret())
    assert tokens.last4(secret) == secret[-4:]


def test_the_scanners_pattern_finds_a_token_in_text() -> None:
    """``tokens.PATTERN`` finds a leaked token in a line of text, and nothing shorter."""
    secret = tokens.new_secret()
    found = re.findall(tokens.PATTERN, f"export IRFLOW_TOKEN={secret} # mine")
    assert found == [secret]
    assert re.findall(tokens.PATTERN, f"x {secret[:-1]} y") == []


@given(bodies)
def test_checksum_round_trip(body: str) -> None:
    """Any 32 base62 characters with their checksum make a well-formed token, and the
    checksum decodes to the CRC32 of the body."""
    check = tokens.checksum(body)
    assert len(check) == tokens.CHECK_LENGTH
    assert decode62(check) == zlib.crc32(body.encode())
    assert tokens.well_formed(token_of(body))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(body=bodies, data=st.data())
def test_any_single_character_change_is_refused_without_a_database_lookup(
    no_database: Engine, body: str, data: st.DataObject
) -> None:
    """Change one character of a valid token, anywhere, to anything else: the token is
    refused as mistyped, and no database is touched."""
    secret = token_of(body)
    where = data.draw(st.integers(0, len(secret) - 1), label="where")
    other = data.draw(st.characters().filter(lambda c: c != secret[where]), label="to")
    changed = secret[:where] + other + secret[where + 1 :]
    assert tokens.shape_problem(changed) is not None
    with pytest.raises(Unauthenticated) as refused:
        no_database.accounts.authenticate(changed, address="192.0.2.1")
    assert changed not in refused.value.message
    assert "copy it again" in refused.value.message


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, data=st.data())
def test_a_cut_or_lengthened_token_is_refused_without_a_database_lookup(
    no_database: Engine, body: str, data: st.DataObject
) -> None:
    """A character lost or added anywhere: refused at once."""
    secret = token_of(body)
    if data.draw(st.booleans(), label="cut"):
        where = data.draw(st.integers(0, len(secret) - 1), label="where")
        changed = secret[:where] + secret[where + 1 :]
    else:
        where = data.draw(st.integers(0, len(secret)), label="where")
        changed = secret[:where] + data.draw(st.characters(), label="added") + secret[where:]
    with pytest.raises(Unauthenticated, match="copy it again"):
        no_database.accounts.authenticate(changed)


@pytest.mark.parametrize(
    ("given_token", "words"),
    [
        ("", "not an irflow token"),
        ("Bearer irf_x", "not an irflow token"),
        ("ghp_" + "a" * 38, "not an irflow token"),
        ("irf_" + "a" * 37 + "!", "not an irflow token"),
        ("irf_" + "a" * 38, "checksum does not match"),
    ],
    ids=["empty", "bearer-prefix", "other-prefix", "bad-character", "bad-checksum"],
)
def test_each_kind_of_malformed_token_is_named(
    no_database: Engine, given_token: str, words: str
) -> None:
    """The message says what is wrong with the token, never repeating it."""
    with pytest.raises(Unauthenticated, match=words):
        no_database.accounts.authenticate(given_token)
