"""Passwords, kept as argon2id hashes (argon2-cffi, its default parameters).

argon2 is imported on first use: a command that never checks a password does not load
it. An unknown login is checked against a dummy hash, made once, so that a sign-in
takes as long whether or not the login exists.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from irflow.errors import InvalidInput

MIN_LENGTH = 12
"""A password needs at least this many characters."""
MAX_LENGTH = 1024
"""And at most this many (hashing a longer one would be work for nothing)."""


@cache
def hasher() -> Any:
    """The one ``argon2.PasswordHasher`` (argon2id, argon2-cffi's default parameters)."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def dummy_hash() -> str:
    """A hash of no one's password, checked against when the login is unknown."""
    import secrets

    return str(hasher().hash(secrets.token_urlsafe(24)))


def check_rule(password: str) -> None:
    """Refuse a password that is too short or too long; say the rule, never the password."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"a password needs at least {MIN_LENGTH} characters, this one has "
            f"{len(password)}; choose a longer one (a few words make a good one)"
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(
            f"a password may have at most {MAX_LENGTH} characters, this one has {len(password)}"
        )


def hash_password(password: str) -> str:
    """The argon2id hash to store for ``password`` (after ``check_rule``)."""
    check_rule(password)
    return str(hasher().hash(password))


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; with no stored hash, the dummy one is
    checked (and fails), taking the same time."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(hasher().verify(stored or dummy_hash(), password)) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with other parameters than the hasher's now."""
    return bool(hasher().check_needs_rehash(stored))
