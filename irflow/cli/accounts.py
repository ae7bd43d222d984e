"""``irflow user``, ``irflow token`` and ``irflow audit``: accounts, API tokens and the
security log, for the administrator of the database.

The engine (and argon2) are imported inside the commands, so that ``irflow --help``
loads neither.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from irflow.cli.common import DbOption, JsonOption, console, jst, moment, open_engine, print_json

if TYPE_CHECKING:
    from irflow.engine.accounts import Account, SecurityEvent, TokenInfo
    from irflow.engine.facade import Engine

user_app = typer.Typer(
    help="""People's accounts: each belongs to one organisation of the directory, and
acts as it through the service (its API tokens, or its password on the site).""",
    epilog="""\b
An account of 三条市 with a password and a token:
  irflow user add tanaka --org 三条市 --name "田中 一郎"
  irflow user password tanaka < password.txt
  irflow token create tanaka --label dashboard > token.txt
  irflow user list --org sanjo
  irflow user disable tanaka      (its tokens and password refused at once)
Logins: 2 to 64 characters, a-z, 0-9, '.', '_', '-', beginning with a letter.""",
    short_help="People's accounts, each of one organisation.",
    no_args_is_help=True,
)
token_app = typer.Typer(
    help="""API tokens: what a program (or a person's script) shows the service, as
`Authorization: Bearer TOKEN`, to act as the token's account's organisation.

\b
A token is shown once, when made, and kept only as its SHA-256 hash and its last
four characters (shown in lists). It looks like irf_ and 38 letters and digits,
the last six a checksum: secret scanners recognise a leaked one, and a mistyped
one is refused without a database lookup. A token expires (90 days unless
--expires says otherwise); a read-only token may read but never write.""",
    epilog="""\b
  irflow token create tanaka --label ci --expires 30d > token.txt
  irflow token create tanaka --read-only --json
  irflow token list --login tanaka
  irflow token rotate 3 > token.txt     (a new token; token 3 revoked)
  irflow token revoke 3""",
    short_help="API tokens: made, listed, rotated and revoked.",
    no_args_is_help=True,
)

LoginArgument = Annotated[str, typer.Argument(metavar="LOGIN", help="The account's login.")]
TokenArgument = Annotated[
    int, typer.Argument(metavar="ID", help="The token's id (`irflow token list`).")
]

_LIFETIME = re.compile(r"(\d+)\s*([dh])")
_MOST = {"d": 3650, "h": 3650 * 24}


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    app.command("audit")(audit)


def lifetime(text: str) -> timedelta | None:
    """``--expires``: days (90d) or hours (12h), up to ten years; ``never`` for none."""
    from irflow.errors import InvalidInput

    value = text.strip().lower()
    if value == "never":
        return None
    found = _LIFETIME.fullmatch(value)
    if found is None:
        raise InvalidInput(
            f"--expires {text!r} is not understood; write it like 90d (days), 12h (hours) or never"
        )
    count, unit = int(found.group(1)), found.group(2)
    if count == 0:
        raise InvalidInput("--expires must be at least 1h; a token that is dead at once is no use")
    if count > _MOST[unit]:
        raise InvalidInput(f"--expires {text!r} is too long: 3650d (ten years) at most, or never")
    return timedelta(days=count) if unit == "d" else timedelta(hours=count)


# ---------------------------------------------------------------------------- user


@user_app.command("add")
def user_add(
    login: LoginArgument,
    org: Annotated[
        str,
        typer.Option("--org", metavar="ORG", help="The account's organisation: id, code or name."),
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="The person's name, as lists show it."),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Add an account of ORG. Exits 2 if the login is taken or breaks the rule, 3 if
    there is no such organisation."""
    engine = open_engine(db, writes=True)
    account = engine.accounts.add_user(login, org=org, name=name)
    if as_json:
        print_json(account.as_json())
        return
    console().print(f"added {account.login}, of {_org(engine, account.org_id)}", markup=False)


@user_app.command("list")
def user_list(
    org: Annotated[
        str | None,
        typer.Option("--org", metavar="ORG", help="Only the accounts of ORG (id, code or name)."),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The accounts, by login, with their organisation and whether each is enabled and
    has a password."""
    engine = open_engine(db)
    found = engine.accounts.users(org=org)
    if as_json:
        print_json([a.as_json() for a in found])
        return
    out = console()
    for a in found:
        out.print(_user_line(engine, a), markup=False)
    if not found:
        out.print("no accounts" + (f" of {org}" if org else ""), markup=False)


def _user_line(engine: Engine, a: Account) -> str:
    state = "disabled" if a.disabled else "enabled"
    password = "password set" if a.has_password else "no password"
    name = f"  {a.name}" if a.name else ""
    return (
        f"{a.login:<20} {_org(engine, a.org_id)}{name}  {state}, {password}, "
        f"added {jst(a.created_at)}"
    )


@user_app.command("disable")
def user_disable(login: LoginArgument, db: DbOption = None) -> None:
    """Disable the account: its tokens and its password are refused from the next
    request on (nothing is deleted; `irflow user enable` undoes it)."""
    engine = open_engine(db, writes=True)
    was = engine.accounts.user(login)
    account = engine.accounts.disable(login)
    said = "was disabled already" if was.disabled else "disabled: its tokens are refused"
    console().print(f"{account.login} {said}", markup=False)


@user_app.command("enable")
def user_enable(login: LoginArgument, db: DbOption = None) -> None:
    """Enable a disabled account again: its live tokens work again."""
    engine = open_engine(db, writes=True)
    was = engine.accounts.user(login)
    account = engine.accounts.enable(login)
    said = "was enabled already" if not was.disabled else "enabled"
    console().print(f"{account.login} {said}", markup=False)


@user_app.command("password")
def user_password(login: LoginArgument, db: DbOption = None) -> None:
    """Set the account's password (for the site), read as one line from stdin; asked
    for without echo on a terminal. At least 12 characters; kept as an argon2 hash.

    \b
      irflow user password tanaka < password.txt
      printf '%s\\n' "$PASSWORD" | irflow user password tanaka"""
    engine = open_engine(db, writes=True)
    engine.accounts.user(login)  # an unknown login is told before a password is asked for
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(f"password for {login}: ")
    else:
        password = sys.stdin.readline()
    password = password.removesuffix("\n").removesuffix("\r")
    engine.accounts.set_password(login, password)
    console().print(f"password of {login} set", markup=False)


# ---------------------------------------------------------------------------- token

ExpiresOption = Annotated[
    str,
    typer.Option(
        "--expires",
        metavar="LIFETIME",
        help="How long the token lives: days (90d) or hours (12h), up to 3650d; or never "
        "(a token that never expires: revoke it when it is no longer used).",
    ),
]


@token_app.command("create")
def token_create(
    login: LoginArgument,
    label: Annotated[
        str | None,
        typer.Option("--label", metavar="TEXT", help="What the token is for, as lists show it."),
    ] = None,
    expires: ExpiresOption = "90d",
    read_only: Annotated[
        bool, typer.Option("--read-only", help="The token may read, never write.")
    ] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Make a token for LOGIN's account and print it alone on stdout: it is shown this
    once. With --json: {"id", "token", "login", "org", "expires"}."""
    life = lifetime(expires)
    engine = open_engine(db, writes=True)
    info, secret = engine.accounts.create_token(
        login, label=label, expires=life, read_only=read_only
    )
    _print_secret(engine, info, secret, as_json, "made")


@token_app.command("list")
def token_list(
    login: Annotated[
        str | None,
        typer.Option("--login", metavar="LOGIN", help="Only the tokens of this account."),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The tokens, by id: whose, their label, last four characters, access, expiry and
    whether each is live, expired or revoked. Never the token itself."""
    engine = open_engine(db)
    found = engine.accounts.tokens(login=login)
    if as_json:
        print_json([t.as_json(engine.clock.now()) for t in found])
        return
    out = console()
    now = engine.clock.now()
    disabled = {a.login for a in engine.accounts.users() if a.disabled}
    for t in found:
        out.print(_token_line(engine, t, now, t.login in disabled), markup=False)
    if not found:
        out.print("no tokens" + (f" of {login}" if login else ""), markup=False)


def _token_line(engine: Engine, t: TokenInfo, now: datetime, disabled: bool) -> str:
    status = t.status(now)
    if status == "revoked":
        status = f"revoked {jst(t.revoked_at)}"
    elif status == "live" and disabled:
        status = "refused: its account is disabled"
    access = "read-only" if t.read_only else "read-write"
    expiry = f"expires {jst(t.expires_at)}" if t.expires_at else "never expires"
    label = f"  {t.label}" if t.label else ""
    return (
        f"{t.id:>4}  irf_…{t.last4}  {t.login}, {_org(engine, t.org_id)}{label}  {access}, "
        f"made {jst(t.created_at)}, {expiry}  [{status}]"
    )


@token_app.command("revoke")
def token_revoke(token_id: TokenArgument, db: DbOption = None) -> None:
    """Revoke a token: it is refused from the next request on. Revoking it again
    changes nothing."""
    engine = open_engine(db, writes=True)
    was = engine.accounts.token(token_id)
    info = engine.accounts.revoke(token_id)
    said = f"was revoked already, {jst(was.revoked_at)}" if was.revoked_at else "revoked"
    console().print(f"token {info.id} (irf_…{info.last4}, {info.login}) {said}", markup=False)


@token_app.command("rotate")
def token_rotate(token_id: TokenArgument, as_json: JsonOption = False, db: DbOption = None) -> None:
    """Replace a token: a new one for the same account, label, access and lifetime is
    printed alone on stdout (shown this once), and the old one is revoked, at once."""
    engine = open_engine(db, writes=True)
    info, secret = engine.accounts.rotate(token_id)
    _print_secret(engine, info, secret, as_json, f"made in place of token {token_id} (revoked)")


def _print_secret(engine: Engine, info: TokenInfo, secret: str, as_json: bool, what: str) -> None:
    """The secret alone on stdout (or the JSON); what it is, for people, on stderr."""
    if as_json:
        print_json(
            {
                "id": info.id,
                "token": secret,
                "login": info.login,
                "org": info.org_id,
                "expires": info.expires_at.isoformat() if info.expires_at else None,
            }
        )
    else:
        sys.stdout.write(secret + "\n")
    expiry = (
        f"expires {jst(info.expires_at)}"
        if info.expires_at
        else "never expires (revoke it when it is no longer used)"
    )
    access = "read-only" if info.read_only else "read-write"
    sys.stderr.write(
        f"token {info.id} of {info.login}, {_org(engine, info.org_id)}, {what}: {access}, "
        f"{expiry}. It is shown this once: keep it now.\n"
    )


# ---------------------------------------------------------------------------- audit


def audit(
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="MOMENT",
            help="Only events at or after this moment, ISO 8601 (without an offset, Japan time).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", metavar="N", help="Only the newest N events.", min=1),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """The security log: sign-ins, tokens and account changes, oldest first.

    Accounts added, disabled and enabled, passwords set, sign-ins and failed ones,
    tokens made, rotated, revoked and refused, with the address each request came
    from, in Japan time. `irflow verify` proves its chain.

    \b
      irflow audit --since 2026-04-01
      irflow audit --limit 20 --json"""
    engine = open_engine(db)
    events = engine.accounts.security_log(since=moment(since), limit=limit)
    if as_json:
        print_json([e.as_json() for e in events])
        return
    out = console()
    for e in events:
        out.print(_event_line(engine, e), markup=False)
    if not events:
        out.print("no security events" + (f" since {since}" if since else ""), markup=False)


def _event_line(engine: Engine, e: SecurityEvent) -> str:
    who = e.login or "(no account)"
    if e.org_id:
        who += f", {_org(engine, e.org_id)}"
    where = f"  from {e.address}" if e.address else ""
    detail = " ".join(
        f"{k}={jst(v) if k.endswith('_at') else _value(v)}"
        for k, v in sorted(e.detail.items())
        if v is not None
    )
    return f"{e.seq:>6}  {jst(e.at)}  {e.action:<15} {who}{where}  {detail}".rstrip()


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v) if " " not in str(v) else repr(str(v))


def _org(engine: Engine, org_id: str) -> str:
    """An organisation as people read it: its name and its id."""
    org = engine.organisations().get(org_id)
    return f"{org.name} ({org_id})" if org else org_id
