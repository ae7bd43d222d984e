"""The notifiers of an installation: an ordered list read from a TOML file.

Where the file is, first match wins:

1. the ``path`` given to ``load_notifiers`` (``irflow run --settings``, tests);
2. the file named by the environment variable ``IRFLOW_NOTIFIERS``;
3. ``irflow.toml`` in the current folder, when there is one.

With none of them there are no notifiers (an empty list). The file holds one
``[[notifiers]]`` table per channel, in the order they are tried; other tables
of ``irflow.toml`` are left to their own readers::

    [[notifiers]]
    type = "mail"                  # mail | webhook | memory
    name = "mail"                  # optional; the outbox's channel name (default: the type)
    host = "127.0.0.1"
    port = 1025                    # default 25
    sender = "irflow@example.invalid"
    sender_name = "irflow"         # optional: display name when no organisation sends
    starttls = false               # default false
    username = "irflow"            # optional, with password_env
    password_env = "IRFLOW_SMTP_PASSWORD"
    timeout = 10                   # seconds, default 10

    [[notifiers]]
    type = "webhook"
    url = "http://127.0.0.1:8080/hook"
    secret_env = "IRFLOW_WEBHOOK_SECRET"
    timeout = 10

Secrets never sit in the file: ``password`` and ``secret`` are refused, and
``password_env`` / ``secret_env`` name the environment variables that hold them.
Every error is an ``InvalidInput`` naming the file, the entry and the fix.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from irflow.errors import InvalidInput
from irflow.notifiers.base import Notifier
from irflow.notifiers.mail import MailNotifier
from irflow.notifiers.memory import MemoryNotifier
from irflow.notifiers.webhook import WebhookNotifier

__all__ = ["DEFAULT_FILE", "ENV_VAR", "load_notifiers", "parse_notifiers"]

ENV_VAR = "IRFLOW_NOTIFIERS"
"""The environment variable that names the settings file."""
DEFAULT_FILE = Path("irflow.toml")
"""The settings file looked for in the current folder."""

_KEYS: dict[str, frozenset[str]] = {
    "mail": frozenset(
        {
            "type",
            "name",
            "host",
            "port",
            "sender",
            "sender_name",
            "starttls",
            "username",
            "password_env",
            "timeout",
        }
    ),
    "webhook": frozenset({"type", "name", "url", "secret_env", "timeout"}),
    "memory": frozenset({"type", "name"}),
}
_SECRETS = {"password": "password_env", "secret": "secret_env"}


class _Bad(Exception):
    """One entry's problem, before the file and entry are put in front of it."""


def load_notifiers(path: Path | None = None, env: Mapping[str, str] = os.environ) -> list[Notifier]:
    """The configured notifiers, in order; an empty list when nothing is configured."""
    source = _settings_file(path, env)
    if source is None:
        return []
    try:
        with source.open("rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError:
        raise InvalidInput(
            f"{source}: no such settings file; create it or point {ENV_VAR} at an existing one"
        ) from None
    except OSError as exc:
        raise InvalidInput(f"{source}: cannot read the settings file: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{source}: not valid TOML (UTF-8): {exc}") from None
    return parse_notifiers(data, source=str(source), env=env)


def _settings_file(path: Path | None, env: Mapping[str, str]) -> Path | None:
    if path is not None:
        return path
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR])
    if DEFAULT_FILE.is_file():
        return DEFAULT_FILE
    return None


def parse_notifiers(
    data: Mapping[str, Any], *, source: str = "<settings>", env: Mapping[str, str] = os.environ
) -> list[Notifier]:
    """The notifiers of a parsed settings document (its ``notifiers`` array)."""
    entries = data.get("notifiers", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidInput(
            f"{source}: 'notifiers' must be an array of tables; write each channel "
            "as its own [[notifiers]] table"
        )
    notifiers: list[Notifier] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        kind = entry.get("type")
        where = f"{source}: [[notifiers]] entry {index}"
        if isinstance(kind, str):
            where += f' (type = "{kind}")'
        try:
            notifier = _build(entry, env)
        except _Bad as exc:
            raise InvalidInput(f"{where}: {exc}") from None
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc.message}") from None
        if notifier.name in seen:
            raise InvalidInput(
                f'{where}: the name "{notifier.name}" is taken by entry {seen[notifier.name]}; '
                'give each notifier of the same type its own name = "..."'
            )
        seen[notifier.name] = index
        notifiers.append(notifier)
    return notifiers


def _build(entry: Mapping[str, Any], env: Mapping[str, str]) -> Notifier:
    kind = entry.get("type")
    if kind not in _KEYS:
        known = ", ".join(f'"{k}"' for k in _KEYS)
        raise _Bad(f"type {kind!r} is not a notifier type; write type = one of {known}")
    assert isinstance(kind, str)
    for key, instead in _SECRETS.items():
        if key in entry:
            raise _Bad(
                f"{key!r} must not be written in the settings file; put it in an "
                f'environment variable and name it: {instead} = "IRFLOW_..."'
            )
    unknown = sorted(set(entry) - _KEYS[kind])
    if unknown:
        allowed = ", ".join(sorted(_KEYS[kind]))
        raise _Bad(f"unknown key {unknown[0]!r}; a {kind} notifier takes {allowed}")
    name = _optional_str(entry, "name") or kind
    if kind == "memory":
        return MemoryNotifier(name=name)
    timeout = _float(entry, "timeout", 10.0)
    if timeout <= 0:
        raise _Bad(f"timeout = {timeout} must be more than 0 seconds")
    if kind == "webhook":
        return WebhookNotifier(
            _str(entry, "url"),
            secret=_secret(entry, "secret_env", env),
            name=name,
            timeout=timeout,
        )
    username = _optional_str(entry, "username")
    password = _secret(entry, "password_env", env) if "password_env" in entry else None
    if (username is None) != (password is None):
        raise _Bad("give both username and password_env for SMTP AUTH, or neither")
    return MailNotifier(
        _str(entry, "host"),
        _int(entry, "port", 25),
        sender=_str(entry, "sender"),
        name=name,
        sender_name=_optional_str(entry, "sender_name") or "irflow",
        starttls=_bool(entry, "starttls", False),
        username=username,
        password=password,
        timeout=timeout,
    )


def _value(entry: Mapping[str, Any], key: str, types: tuple[type, ...], what: str) -> Any:
    value = entry[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise _Bad(f"{key} = {value!r} must be {what}")
    return value


def _str(entry: Mapping[str, Any], key: str) -> str:
    if key not in entry:
        raise _Bad(f'{key!r} is missing; add {key} = "..."')
    return _optional_str(entry, key) or ""


def _optional_str(entry: Mapping[str, Any], key: str) -> str | None:
    if key not in entry:
        return None
    value = str(_value(entry, key, (str,), "a string"))
    if not value:
        raise _Bad(f"{key} is empty; give a value or leave the key out")
    return value


def _int(entry: Mapping[str, Any], key: str, default: int) -> int:
    if key not in entry:
        return default
    return int(_value(entry, key, (int,), "an integer"))


def _float(entry: Mapping[str, Any], key: str, default: float) -> float:
    if key not in entry:
        return default
    return float(_value(entry, key, (int, float), "a number"))


def _bool(entry: Mapping[str, Any], key: str, default: bool) -> bool:
    if key not in entry:
        return default
    return bool(_value(entry, key, (bool,), "true or false"))


def _secret(entry: Mapping[str, Any], key: str, env: Mapping[str, str]) -> str:
    variable = _str(entry, key)
    value = env.get(variable)
    if not value:
        raise _Bad(
            f"the environment variable {variable} (named by {key}) is not set or empty; "
            "export it before starting irflow"
        )
    return value
