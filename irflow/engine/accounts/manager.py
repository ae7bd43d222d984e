"""``Accounts``: people's accounts, their passwords and API tokens, and the security log.

Every change is one transaction that also appends its event to the security log
(``store.Store.writing``); every refusal writes nothing but, for a sign-in or a token
that looked right, its own ``sign_in_failed`` or ``token_refused`` event. No secret,
password or hash of either is ever written to the log, or to any log line.
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from irflow.engine.accounts import chain, passwords, tokens
from irflow.engine.accounts.models import (
    Account,
    Principal,
    SecurityEvent,
    SecurityLogReport,
    TokenInfo,
)
from irflow.engine.accounts.store import AccountRecord, Reader, Store, Writer
from irflow.errors import InvalidInput, NotFound, Unauthenticated

if TYPE_CHECKING:
    from irflow.engine.context import Context

LOGIN = re.compile(r"[a-z][a-z0-9._-]{1,63}")
LOGIN_RULE = (
    "a login is 2 to 64 characters: lower-case letters a-z, digits, '.', '_' or '-', "
    "beginning with a letter"
)
LABEL_LENGTH = 200
"""A token's label (and an account's name) may have at most this many characters."""
VERIFY_BATCH = 1000
"""Security events read per query by ``verify_security_log``."""

TOKEN_REFUSED = (
    "the token is not accepted: it is unknown, revoked or expired, or its account is "
    "disabled; ask the administrator for a new one (`irflow token create`)"
)
SIGN_IN_REFUSED = (
    "the login or the password is wrong, or the account is disabled; ask the "
    "administrator if it should work (`irflow user password`, `irflow user enable`)"
)


class Accounts:
    """Accounts, passwords, API tokens and the hash-chained security log."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.store = Store(ctx.ledger, ctx.audit_key)

    def _now(self) -> datetime:
        return self.ctx.clock.now()

    # ------------------------------------------------------------------ accounts

    def add_user(self, login: str, *, org: str, name: str | None = None) -> Account:
        """A new account of organisation ``org`` (id, code or name, as ``directory.find``)."""
        self.ctx.ready()
        check_login(login)
        organisation = self.ctx.directory.find(org)
        name = _text(name, "name")
        with self.store.writing(self._now()) as w:
            existing = w.account(login)
            if existing is not None:
                raise InvalidInput(
                    f"there is an account {login!r} already (of "
                    f"{self.ctx.directory.name(existing.org_id)}); choose another login, "
                    "or see `irflow user list`"
                )
            account_id = int(w.run("insert_account", login, organisation.id, name, False, w.now))
            w.log("user_added", login=login, org_id=organisation.id,
                  detail={"account_id": account_id})  # fmt: skip
            return _existing(w.account_by_id(account_id), login).account()

    def user(self, login: str) -> Account:
        """The account ``login`` (``NotFound`` if there is none)."""
        self.ctx.ready()
        with self.store.reading() as r:
            return _existing(r.account(login), login).account()

    def users(self, *, org: str | None = None) -> list[Account]:
        """Every account, by login; only those of ``org``, if given."""
        self.ctx.ready()
        org_id = self.ctx.directory.find(org).id if org is not None else None
        with self.store.reading() as r:
            return [rec.account() for rec in r.accounts(org_id)]

    def disable(self, login: str) -> Account:
        """Disable the account: its tokens and password are refused from the next request
        on. Disabling a disabled account changes nothing."""
        return self._set_disabled(login, True)

    def enable(self, login: str) -> Account:
        """Enable the account again (its tokens that are live work again)."""
        return self._set_disabled(login, False)

    def _set_disabled(self, login: str, disabled: bool) -> Account:
        self.ctx.ready()
        with self.store.writing(self._now()) as w:
            rec = _existing(w.account(login), login)
            if rec.disabled == disabled:
                return rec.account()
            w.run("set_disabled", disabled, rec.id)
            w.log("user_disabled" if disabled else "user_enabled", login=rec.login,
                  org_id=rec.org_id)  # fmt: skip
            return _existing(w.account_by_id(rec.id), login).account()

    # ------------------------------------------------------------------ passwords

    def set_password(self, login: str, password: str) -> None:
        """Set the account's password (stored as an argon2id hash); a password shorter
        than ``passwords.MIN_LENGTH`` is refused and nothing is written."""
        self.ctx.ready()
        passwords.check_rule(password)
        self.user(login)  # not found before the hash's work
        hashed = passwords.hash_password(password)
        with self.store.writing(self._now()) as w:
            rec = _existing(w.account(login), login)
            w.run("set_password", hashed, rec.id)
            w.log("password_set", login=rec.login, org_id=rec.org_id)

    def check_password(self, login: str, password: str, *, address: str | None = None) -> Principal:
        """The principal of an account signed in by password; ``Unauthenticated`` when the
        login is unknown, the password wrong or unset, or the account disabled.

        An unknown login is checked against a dummy hash, so it takes the time a known
        one takes; both outcomes are recorded (``signed_in``, ``sign_in_failed``).
        """
        self.ctx.ready()
        passwords.dummy_hash()  # made once, before the time of a sign-in counts
        rec: AccountRecord | None = None
        if LOGIN.fullmatch(login):
            with self.store.reading() as r:
                rec = r.account(login)
        matches = passwords.verify(rec.password_hash if rec else None, password)
        if rec is None:
            reason = "unknown login"
        elif rec.password_hash is None:
            reason = "no password set"
        elif not matches:
            reason = "wrong password"
        elif rec.disabled:
            reason = "account disabled"
        else:
            reason = None
        rehashed = None
        stored = rec.password_hash if rec is not None and reason is None else None
        if stored is not None and passwords.needs_rehash(stored):
            rehashed = passwords.hash_password(password)
        with self.store.writing(self._now()) as w:
            if rec is None or reason is not None:
                # An unknown login is not written: it may be a password typed in its place.
                w.log("sign_in_failed", login=rec.login if rec else None,
                      org_id=rec.org_id if rec else None, address=address,
                      detail={"reason": reason})  # fmt: skip
            else:
                if rehashed is not None:
                    w.run("set_password", rehashed, rec.id)
                w.log("signed_in", login=rec.login, org_id=rec.org_id, address=address)
        if rec is None or reason is not None:
            raise Unauthenticated(SIGN_IN_REFUSED)
        return Principal(rec.id, rec.login, rec.name, rec.org_id, False, None)

    # ------------------------------------------------------------------ tokens

    def create_token(
        self,
        login: str,
        *,
        label: str | None = None,
        expires: timedelta | None = timedelta(days=90),
        read_only: bool = False,
    ) -> tuple[TokenInfo, str]:
        """A new API token of ``login``'s account: its info and its secret, which is shown
        this once and stored only as a hash. ``expires=None``: it never expires."""
        self.ctx.ready()
        label = _text(label, "label")
        with self.store.writing(self._now()) as w:
            rec = _live_account(w, login)
            return _new_token(w, rec, label, _expiry(w.now, expires), read_only, None)

    def tokens(self, *, login: str | None = None) -> list[TokenInfo]:
        """Every token (never its secret), by id; only ``login``'s, if given."""
        self.ctx.ready()
        with self.store.reading() as r:
            account_id = _existing(r.account(login), login).id if login is not None else None
            return r.tokens(account_id)

    def token(self, token_id: int) -> TokenInfo:
        """One token (never its secret); ``NotFound`` if there is none with the id."""
        self.ctx.ready()
        with self.store.reading() as r:
            return _token(r, token_id)

    def revoke(self, token_id: int) -> TokenInfo:
        """Revoke the token: refused from the next request on. Revoking a revoked token
        changes nothing."""
        self.ctx.ready()
        with self.store.writing(self._now()) as w:
            info = _token(w, token_id)
            if info.revoked_at is not None:
                return info
            w.run("revoke", w.now, token_id)
            w.log("token_revoked", login=info.login, org_id=info.org_id,
                  detail={"token_id": token_id})  # fmt: skip
            return _token(w, token_id)

    def rotate(self, token_id: int) -> tuple[TokenInfo, str]:
        """A new token for the same account, label, access and lifetime, and the old one
        revoked, in one transaction; its info and secret (shown this once)."""
        self.ctx.ready()
        with self.store.writing(self._now()) as w:
            old = _token(w, token_id)
            if old.revoked_at is not None:
                raise InvalidInput(
                    f"token {token_id} was revoked already; make a new one with "
                    f"`irflow token create {old.login}`"
                )
            rec = _live_account(w, old.login)
            lifetime = old.expires_at - old.created_at if old.expires_at is not None else None
            w.run("revoke", w.now, token_id)
            expires_at = _expiry(w.now, lifetime)
            info, secret = _new_token(w, rec, old.label, expires_at, old.read_only, token_id)
            return info, secret

    def authenticate(self, secret: str, *, address: str | None = None) -> Principal:
        """The principal a token proves: its account's, at the token's access.

        A token of the wrong shape or checksum is refused at once, without a database
        lookup. Else it is looked up by its SHA-256 (compared in constant time) and
        refused when unknown, revoked, expired (by the engine's clock) or its account
        disabled: the verdict is never cached, so a revocation counts from the next
        request on. Such a refusal is recorded (``token_refused``, with ``address``).
        """
        problem = tokens.shape_problem(secret)
        if problem is not None:
            raise Unauthenticated(problem)
        self.ctx.ready()
        digest = tokens.digest(secret)
        with self.store.reading() as r:
            cred = r.credential(digest)
        now = self._now()
        if cred is None or not hmac.compare_digest(cred.digest, digest):
            reason = "unknown"
        elif cred.revoked_at is not None:
            reason = "revoked"
        elif cred.expires_at is not None and cred.expires_at <= now:
            reason = "expired"
        elif cred.disabled:
            reason = "account disabled"
        else:
            return Principal(cred.account_id, cred.login, cred.name, cred.org_id,
                             cred.read_only, cred.token_id)  # fmt: skip
        detail: dict[str, object] = {"reason": reason, "last4": tokens.last4(secret)}
        if cred is not None:
            detail["token_id"] = cred.token_id
        with self.store.writing(now) as w:
            w.log("token_refused", login=cred.login if cred else None,
                  org_id=cred.org_id if cred else None, address=address,
                  detail=detail)  # fmt: skip
        raise Unauthenticated(TOKEN_REFUSED)

    # ------------------------------------------------------------------ security log

    def security_log(
        self, *, since: datetime | None = None, limit: int | None = None
    ) -> list[SecurityEvent]:
        """The security log's events at or after ``since``, oldest first; with ``limit``,
        only the newest ``limit`` of them."""
        self.ctx.ready()
        if limit is not None and limit < 1:
            raise InvalidInput(f"limit must be 1 or more, not {limit}")
        with self.store.reading() as r:
            return r.events(self.ctx.now(since) if since is not None else None, limit)

    def verify_security_log(self) -> SecurityLogReport:
        """Recompute the security log's chain (and, with ``$IRFLOW_AUDIT_KEY``, each
        event's seal) and compare its end with its head; name the first bad event."""
        self.ctx.ready()
        ledger = self.ctx.ledger
        with ledger.connection() as conn:
            cur = conn.cursor()
            try:
                # One snapshot for the head and every page of events (as audit.verify).
                cur.execute(
                    "BEGIN" if ledger.sqlite else "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"
                )
                reader = Reader(self.store, cur)
                head = reader.head()
                if head is None:
                    return SecurityLogReport(events=0, ok=False, bad_seq=1,
                                             problem="the log's head row is gone")  # fmt: skip
                last_seq, last_hash = head
                return chain.verify(reader.records(VERIFY_BATCH), last_seq=last_seq,
                                    last_hash=last_hash, key=self.store.key)  # fmt: skip
            finally:
                cur.close()

    @property
    def seals_checked(self) -> bool:
        """Whether ``verify_security_log`` checks seals (``$IRFLOW_AUDIT_KEY`` was set)."""
        return self.store.key is not None


def check_login(login: str) -> None:
    """Refuse a login that breaks the rule, saying the rule."""
    if not LOGIN.fullmatch(login):
        raise InvalidInput(f"login {login!r} is not allowed: {LOGIN_RULE}")


def _text(value: str | None, what: str) -> str | None:
    """A name or a label, stripped; None when empty."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > LABEL_LENGTH:
        raise InvalidInput(f"the {what} has {len(value)} characters; {LABEL_LENGTH} at most")
    return value


def _existing(rec: AccountRecord | None, login: str) -> AccountRecord:
    if rec is None:
        raise NotFound(f"no account {login!r}; `irflow user list` shows the accounts")
    return rec


def _live_account(r: Reader, login: str) -> AccountRecord:
    """The account ``login``, refused if disabled (a token of it would not work)."""
    rec = _existing(r.account(login), login)
    if rec.disabled:
        raise InvalidInput(
            f"account {login!r} is disabled, so its tokens are refused; enable it first "
            f"(`irflow user enable {login}`)"
        )
    return rec


def _token(r: Reader, token_id: int) -> TokenInfo:
    info = r.token(token_id)
    if info is None:
        raise NotFound(f"no token with id {token_id}; `irflow token list` shows the tokens")
    return info


def _expiry(now: datetime, expires: timedelta | None) -> datetime | None:
    """When a token made ``now`` expires (None: never); a lifetime must be positive."""
    if expires is None:
        return None
    if expires <= timedelta(0):
        raise InvalidInput(f"a token's lifetime must be positive, not {expires}")
    try:
        return now + expires
    except OverflowError:
        raise InvalidInput(f"a token's lifetime of {expires} ends past the calendar") from None


def _new_token(
    w: Writer,
    rec: AccountRecord,
    label: str | None,
    expires_at: datetime | None,
    read_only: bool,
    rotated_from: int | None,
) -> tuple[TokenInfo, str]:
    """Insert a new token of ``rec`` and log it (``token_created``, or ``token_rotated``
    when it replaces ``rotated_from``)."""
    secret = tokens.new_secret()
    digest, last4 = tokens.digest(secret), tokens.last4(secret)
    row = (rec.id, digest, last4, label, read_only, w.now, expires_at, rotated_from)
    token_id = int(w.run("insert_token", *row))
    detail: dict[str, object] = {
        "token_id": token_id,
        "label": label,
        "read_only": read_only,
        "expires_at": expires_at.isoformat() if expires_at is not None else None,
    }
    if rotated_from is None:
        w.log("token_created", login=rec.login, org_id=rec.org_id, detail=detail)
    else:
        w.log("token_rotated", login=rec.login, org_id=rec.org_id,
              detail={**detail, "revoked_token_id": rotated_from})  # fmt: skip
    return _token(w, token_id), secret
