"""The accounts' rows on the bare driver, and the security log's appends.

Statements are prebuilt per dialect and run on the ledger's per-thread connection:
``authenticate`` runs on every request of the service, and reads one joined row.

Every write is one transaction that first locks the security log's head row
(``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL), checks what
it must under that lock, changes its rows and appends its events: concurrent writers
take turns, so the log's chain stays one line (no two events with one seq) and two
``user add`` of one login cannot both pass the check.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from irflow.engine.accounts.chain import append_record, as_event, read_records
from irflow.engine.accounts.models import Account, SecurityEvent, TokenInfo
from irflow.engine.ledger import EventRecord, Ledger
from irflow.errors import StorageError

_ACCOUNT = "id, login, org_id, name, disabled, password_hash, created_at"
_TOKEN = (
    "t.id, a.login, a.org_id, t.label, t.last4, t.read_only, t.created_at, t.expires_at, "
    "t.revoked_at"
)
_EVENT = "seq, at, action, login, org_id, address, detail, prev_hash, hash, seal"


@dataclass(slots=True)
class AccountRecord:
    """An account row as read, its password hash included (never handed out)."""

    id: int
    login: str
    org_id: str
    name: str | None
    disabled: bool
    password_hash: str | None
    created_at: datetime

    def account(self) -> Account:
        return Account(
            id=self.id,
            login=self.login,
            org_id=self.org_id,
            name=self.name,
            disabled=self.disabled,
            has_password=self.password_hash is not None,
            created_at=self.created_at,
        )


@dataclass(slots=True)
class Credential:
    """What ``authenticate`` reads for a token: the token and its account, in one row."""

    token_id: int
    digest: str
    read_only: bool
    expires_at: datetime | None
    revoked_at: datetime | None
    account_id: int
    login: str
    name: str | None
    org_id: str
    disabled: bool


class Store:
    """Prebuilt SQL for accounts, tokens and the security log, per database dialect."""

    def __init__(self, ledger: Ledger, key: bytes | None) -> None:
        self.ledger = ledger
        self.key = key
        p = "?" if ledger.sqlite else "%s"
        lock = "" if ledger.sqlite else " FOR UPDATE"
        join = "FROM api_token t JOIN account a ON a.id = t.account_id"
        self.sql = {
            "lock_head": f"SELECT last_seq, last_hash FROM security_head WHERE id = 1{lock}",
            "set_head": f"UPDATE security_head SET last_seq = {p}, last_hash = {p} WHERE id = 1",
            "head": "SELECT last_seq, last_hash FROM security_head WHERE id = 1",
            "insert_event": f"INSERT INTO security_event ({_EVENT}) VALUES ({', '.join([p] * 10)})",
            "account": f"SELECT {_ACCOUNT} FROM account WHERE login = {p}",
            "account_by_id": f"SELECT {_ACCOUNT} FROM account WHERE id = {p}",
            "accounts": f"SELECT {_ACCOUNT} FROM account ORDER BY login",
            "accounts_of": f"SELECT {_ACCOUNT} FROM account WHERE org_id = {p} ORDER BY login",
            "insert_account": "INSERT INTO account (login, org_id, name, disabled, password_hash, "
            f"created_at) VALUES ({p}, {p}, {p}, {p}, NULL, {p}) RETURNING id",
            "set_disabled": f"UPDATE account SET disabled = {p} WHERE id = {p}",
            "set_password": f"UPDATE account SET password_hash = {p} WHERE id = {p}",
            "credential": "SELECT t.id, t.digest, t.read_only, t.expires_at, t.revoked_at, a.id, "
            f"a.login, a.name, a.org_id, a.disabled {join} WHERE t.digest = {p}",
            "token": f"SELECT {_TOKEN} {join} WHERE t.id = {p}",
            "tokens": f"SELECT {_TOKEN} {join} ORDER BY t.id",
            "tokens_of": f"SELECT {_TOKEN} {join} WHERE a.id = {p} ORDER BY t.id",
            "insert_token": "INSERT INTO api_token (account_id, digest, last4, label, read_only, "
            f"created_at, expires_at, revoked_at, rotated_from) VALUES ({p}, {p}, {p}, {p}, "
            f"{p}, {p}, {p}, NULL, {p}) RETURNING id",
            "revoke": f"UPDATE api_token SET revoked_at = {p} WHERE id = {p}",
            "events_after": f"SELECT {_EVENT} FROM security_event WHERE seq > {p} "
            f"ORDER BY seq LIMIT {p}",
        }
        self._p = p

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        """A read on this thread's connection (rolled back at the end)."""
        with self.ledger.connection() as conn:
            cur = conn.cursor()
            try:
                yield Reader(self, cur)
            finally:
                cur.close()

    @contextmanager
    def writing(self, now: datetime) -> Iterator[Writer]:
        """One write transaction, holding the security log's head from its start; it
        commits when the block ends, and writes nothing if the block raises."""
        with self.ledger.connection() as conn:
            cur = conn.cursor()
            try:
                if self.ledger.sqlite:
                    cur.execute("BEGIN IMMEDIATE")
                cur.execute(self.sql["lock_head"])
                head = cur.fetchone()
                if head is None:
                    raise StorageError(
                        "the security log's head row is gone (someone deleted it); "
                        "`irflow verify` tells what else is missing",
                        where=self.ledger.connections.where,
                    )
                writer = Writer(self, cur, now, int(head[0]), str(head[1]))
                yield writer
                if writer.appended:
                    cur.execute(self.sql["set_head"], (writer.last_seq, writer.last_hash))
                conn.commit()
            finally:
                cur.close()


class Reader:
    """The reads of one transaction (a ``reading`` block, or a ``writing`` one)."""

    def __init__(self, store: Store, cur: Any) -> None:
        self.store = store
        self.cur = cur
        self._moment = store.ledger.read_moment

    def _rows(self, name: str, *params: Any) -> list[tuple[Any, ...]]:
        self.cur.execute(self.store.sql[name], params)
        return [tuple(r) for r in self.cur.fetchall()]

    def _when(self, value: Any) -> datetime | None:
        return None if value is None else self._moment(value)

    def account(self, login: str) -> AccountRecord | None:
        rows = self._rows("account", login)
        return self._account(rows[0]) if rows else None

    def account_by_id(self, account_id: int) -> AccountRecord | None:
        rows = self._rows("account_by_id", account_id)
        return self._account(rows[0]) if rows else None

    def accounts(self, org_id: str | None = None) -> list[AccountRecord]:
        rows = self._rows("accounts") if org_id is None else self._rows("accounts_of", org_id)
        return [self._account(r) for r in rows]

    def _account(self, row: tuple[Any, ...]) -> AccountRecord:
        account_id, login, org_id, name, disabled, password_hash, created = row
        return AccountRecord(int(account_id), login, org_id, name, bool(disabled), password_hash,
                             self._moment(created))  # fmt: skip

    def credential(self, digest: str) -> Credential | None:
        rows = self._rows("credential", digest)
        if not rows:
            return None
        (token_id, stored, read_only, expires, revoked, account_id, login, name, org_id,
         disabled) = rows[0]  # fmt: skip
        return Credential(int(token_id), stored, bool(read_only), self._when(expires),
                          self._when(revoked), int(account_id), login, name, org_id,
                          bool(disabled))  # fmt: skip

    def token(self, token_id: int) -> TokenInfo | None:
        rows = self._rows("token", token_id)
        return self._token(rows[0]) if rows else None

    def tokens(self, account_id: int | None = None) -> list[TokenInfo]:
        rows = self._rows("tokens") if account_id is None else self._rows("tokens_of", account_id)
        return [self._token(r) for r in rows]

    def _token(self, row: tuple[Any, ...]) -> TokenInfo:
        token_id, login, org_id, label, last4, read_only, created, expires, revoked = row
        return TokenInfo(
            id=int(token_id),
            login=login,
            org_id=org_id,
            label=label,
            last4=last4,
            read_only=bool(read_only),
            created_at=self._moment(created),
            expires_at=self._when(expires),
            revoked_at=self._when(revoked),
        )

    def events(self, since: datetime | None, limit: int | None) -> list[SecurityEvent]:
        """The events at or after ``since``; only the newest ``limit`` of them, if given;
        oldest first."""
        p, where, params = self.store._p, "", []
        if since is not None:
            where, params = f" WHERE at >= {p}", [self.store.ledger.moment(since)]
        sql = f"SELECT {_EVENT} FROM security_event{where} ORDER BY seq"
        if limit is not None:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {p}) newest ORDER BY seq"
            params.append(limit)
        self.cur.execute(sql, params)
        return [as_event(self._record(tuple(r))) for r in self.cur.fetchall()]

    def head(self) -> tuple[int, str] | None:
        """The log's last seq and hash as its head row holds them (None if it is gone)."""
        rows = self._rows("head")
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def records(self, batch: int) -> Iterator[EventRecord]:
        """Every event of the log, ``batch`` a read, in seq order."""
        return read_records(lambda after: self._rows("events_after", after, batch), self._record)

    def _record(self, row: tuple[Any, ...]) -> EventRecord:
        seq, at, action, login, org_id, address, detail, prev_hash, digest, seal = row
        return EventRecord(0, int(seq), self._moment(at), login, action, org_id, address, None,
                           None, detail, prev_hash, digest, seal)  # fmt: skip


class Writer(Reader):
    """A write transaction that holds the security log's head: its changes and events."""

    def __init__(self, store: Store, cur: Any, now: datetime, last_seq: int, last_hash: str):
        super().__init__(store, cur)
        self.now = now
        self.last_seq = last_seq
        self.last_hash = last_hash
        self.appended = False

    def run(self, name: str, *params: Any) -> Any:
        """Run one of the prebuilt statements; the first column of its row, if it returns
        one (an id)."""
        ledger = self.store.ledger
        bound = [ledger.moment(v) if isinstance(v, datetime) else v for v in params]
        self.cur.execute(self.store.sql[name], bound)
        if "RETURNING" in self.store.sql[name]:
            return self.cur.fetchone()[0]
        return None

    def log(
        self,
        action: str,
        *,
        login: str | None,
        org_id: str | None,
        address: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one event to the security log, in this transaction."""
        record = append_record(
            seq=self.last_seq + 1,
            prev_hash=self.last_hash,
            at=self.now,
            action=action,
            login=login,
            org_id=org_id,
            address=address,
            detail=dict(detail or {}),
            key=self.store.key,
        )
        self.run("insert_event", record.seq, record.at, action, login, org_id, address,
                 record.payload, record.prev_hash, record.hash, record.seal)  # fmt: skip
        self.last_seq, self.last_hash = record.seq, record.hash
        self.appended = True
