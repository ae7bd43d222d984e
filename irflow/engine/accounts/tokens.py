"""API tokens as secret scanners know them: a fixed prefix, random letters, a checksum.

A token is ``irf_``, 32 random base62 characters (``secrets``: 190 bits), then six
base62 characters of the CRC32 of the random part, as GitHub's ``ghp_`` tokens are
made. The prefix lets a secret scanner recognise a leaked token; the checksum lets
``well_formed`` refuse a mistyped or cut one at once, without a database lookup (a
CRC32 catches every change of one character, and every burst of up to four).

Only the SHA-256 of a token (``digest``) and its last four characters are stored.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import zlib

PREFIX = "irf_"
"""Every irflow token begins so (what a secret scanner's pattern matches)."""
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
"""base62, in the order of its digits' values."""
RANDOM_LENGTH = 32
CHECK_LENGTH = 6
LENGTH = len(PREFIX) + RANDOM_LENGTH + CHECK_LENGTH
"""42 characters in all."""
PATTERN = rf"\birf_[0-9A-Za-z]{{{RANDOM_LENGTH + CHECK_LENGTH}}}\b"
"""A regular expression that finds irflow tokens in text (for secret scanners)."""

_DIGITS = frozenset(ALPHABET)


def checksum(body: str) -> str:
    """The six base62 characters of the CRC32 of ``body``, zero-padded (62**6 > 2**32)."""
    value = zlib.crc32(body.encode("ascii"))
    out = []
    for _ in range(CHECK_LENGTH):
        value, digit = divmod(value, 62)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def new_secret() -> str:
    """A fresh token: the prefix, 32 random base62 characters, their checksum."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return PREFIX + body + checksum(body)


def shape_problem(secret: str) -> str | None:
    """Why ``secret`` cannot be an irflow token, or None if it may be one.

    Checks the prefix, the length, the alphabet and the checksum; reads no database.
    The answer never repeats the token (a mistyped token is still nearly a secret).
    """
    if (
        len(secret) != LENGTH
        or not secret.startswith(PREFIX)
        or not _DIGITS.issuperset(secret[len(PREFIX) :])
    ):
        return (
            f"that is not an irflow token: a token is {PREFIX} followed by "
            f"{RANDOM_LENGTH + CHECK_LENGTH} letters and digits; copy it again, whole"
        )
    body, check = secret[len(PREFIX) : -CHECK_LENGTH], secret[-CHECK_LENGTH:]
    if checksum(body) != check:
        return (
            "the token's checksum does not match: a character was mistyped or lost; "
            "copy it again, whole"
        )
    return None


def well_formed(secret: str) -> bool:
    """Whether ``secret`` has the shape and the checksum of an irflow token."""
    return shape_problem(secret) is None


def digest(secret: str) -> str:
    """The SHA-256 of the token, in hex: what is stored and looked up, never the token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def last4(secret: str) -> str:
    """The token's last four characters: enough to tell tokens apart in a list."""
    return secret[-4:]
