"""The one error tree of irflow.

Every failure a caller of irflow can meet is an ``IrflowError``; no exception of a
dependency (transitions, SQLAlchemy, psycopg, pydantic) crosses the public API.
Each message names what was wrong, the value, and what would be right.

    IrflowError
    ├── InvalidInput            bad input from the caller (exit code 2)
    │   ├── InvalidFlow         a flow file that fails its schema or graph checks
    │   ├── TemplateFieldError  a template that reads a field its context lacks
    │   ├── StepNotOpen         a step done already, or waiting for other steps
    │   ├── AmbiguousName       a name that matches several organisations
    │   └── NotInitialised      a database without irflow's schema
    ├── NotFound                an unknown case, organisation, step or flow (exit 3)
    │   └── NoSuchCase          a case or inquiry that does not exist, or not for the asker
    ├── NotAllowed              the actor may not do this (exit 4)
    │   └── Unauthenticated     who you are is not proven: no token, a bad password, ...
    ├── Conflict                the case changed under the caller (exit 5)
    ├── StorageError            the database failed for a reason not the caller's (exit 1)
    │   ├── DatabaseCorrupt     a file that is not an irflow database: corrupt, truncated, other
    │   ├── DatabaseFull        no room left on the disk (or the server's) for the change
    │   ├── DatabaseReadOnly    a file, folder or server that may only be read
    │   └── DatabaseUnavailable cannot connect, the connection was lost, or another holds it
    └── DeliveryFailed          a channel did not take a message; the outbox retries (exit 1)

An ambiguous name is bad input, not a missing organisation: the caller typed
something that matches too much, and the fix is to type more (an id or a code).
Storage errors are translated from the drivers' own in one place,
``irflow.engine.storage``; each names the file or the URL (password hidden).
"""

from __future__ import annotations

from collections.abc import Sequence


class IrflowError(Exception):
    """Base of every error irflow raises."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(IrflowError):
    """The input was malformed or does not fit the rules."""

    exit_code = 2


class InvalidFlow(InvalidInput):
    """A flow file failed its schema or its graph checks."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = path or "<flow>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class TemplateFieldError(InvalidInput):
    """A template refers to a field its context does not have."""

    def __init__(self, template: str, field: str, detail: str, available: Sequence[str]) -> None:
        listed = ", ".join(available) if available else "(none)"
        super().__init__(
            f"template {template!r} refers to a missing field {field!r} ({detail}); "
            f"the fields it can use are: {listed}"
        )
        self.template = template
        self.field = field


class StepNotOpen(InvalidInput):
    """The step was done already, or still waits for other steps."""

    def __init__(self, message: str, *, case_id: int, step: str) -> None:
        super().__init__(message)
        self.case_id = case_id
        self.step = step


class AmbiguousName(InvalidInput):
    """A name matches more than one organisation."""

    def __init__(self, name: str, candidates: Sequence[str]) -> None:
        listed = ", ".join(candidates)
        super().__init__(
            f"organisation name {name!r} is ambiguous: it matches {listed}; "
            "give the id or the local government code instead"
        )
        self.candidates = list(candidates)


class NotInitialised(InvalidInput):
    """The database has no irflow schema yet."""


class NotFound(IrflowError):
    """No such case, organisation, step or flow."""

    exit_code = 3


class NoSuchCase(NotFound):
    """No case or inquiry of this number: none was ever opened, or the asker takes no
    part in it (the same words either way, so that a refusal tells nothing)."""

    def __init__(self, message: str, *, case_id: int) -> None:
        super().__init__(message)
        self.case_id = case_id


class NotAllowed(IrflowError):
    """The actor may not do this on this case."""

    exit_code = 4


class Unauthenticated(NotAllowed):
    """Who you are is not proven: no token, an unknown, revoked or expired one, a
    disabled account, a wrong password.

    The message says which of these kinds of failure it was only where that reveals
    nothing (a token mistyped, which its checksum shows); an unknown token and a revoked
    one get the same words, as do an unknown login and a wrong password.
    """


class Conflict(IrflowError):
    """The case was changed by someone else since the caller read it."""

    exit_code = 5

    def __init__(self, message: str, *, case_id: int, expected: int, actual: int | None) -> None:
        super().__init__(message)
        self.case_id = case_id
        self.expected = expected
        self.actual = actual


class StorageError(IrflowError):
    """The database failed for a reason that is not the caller's input."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message)
        self.where = where
        """The SQLite file or the database URL (password hidden) that failed."""


class DatabaseCorrupt(StorageError):
    """The file is not an irflow database: corrupt, truncated, or another kind of file."""


class DatabaseFull(StorageError):
    """The disk (or the server's) has no room left for the change."""


class DatabaseReadOnly(StorageError):
    """The file, its folder or the server may only be read: a write was refused."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached now: no connection, a lost one, or held by another."""


class DeliveryFailed(IrflowError):
    """The channel did not take the message; the outbox will try again."""


class FlowNotLoaded(Exception):
    """Not an error of irflow's tree, and never seen by a caller: the signal by which a
    command that met a flow version not parsed yet leaves its write transaction, so
    the flow is parsed outside it and the command runs again
    (``irflow.engine.recorder.rerun_on_race``)."""

    def __init__(self, name: str, version: int) -> None:
        super().__init__(f"{name} v{version}")
        self.name = name
        self.version = version
