"""The error tree: drawn truly in ``irflow.errors``' docstring, and the only one there is."""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

import irflow
from irflow import errors

PACKAGE = Path(irflow.__file__).parent
ERRORS = {
    name: value
    for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, errors.IrflowError)
}


def drawn_parents() -> dict[str, str | None]:
    """Each class the docstring draws, with the class drawn above it (None for the root)."""
    parents: dict[str, str | None] = {}
    above: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        drawn = re.match(r"\s*([│ ]*[├└]── )?(\w+)\s", line + " ")
        if drawn is None or drawn.group(2) not in ERRORS:
            continue
        depth = len(drawn.group(1) or "") // 4
        del above[depth:]
        parents[drawn.group(2)] = above[-1] if above else None
        above.append(drawn.group(2))
    return parents


def test_the_docstring_draws_every_error_under_its_base() -> None:
    """Every class of ``irflow.errors`` is in the drawn tree, below the class it extends."""
    actual = {
        name: (None if cls is errors.IrflowError else cls.__bases__[0].__name__)
        for name, cls in ERRORS.items()
    }
    assert drawn_parents() == actual


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.InvalidInput, 2),
        (errors.TemplateFieldError, 2),
        (errors.AmbiguousName, 2),
        (errors.NotFound, 3),
        (errors.NotAllowed, 4),
        (errors.Unauthenticated, 4),
        (errors.Conflict, 5),
        (errors.StorageError, 1),
        (errors.DeliveryFailed, 1),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else str(value),
)
def test_exit_codes(error: type[errors.IrflowError], code: int) -> None:
    """Bad input (an ambiguous name too) exits 2; a channel's failure is not the caller's: 1."""
    assert error.exit_code == code


def test_an_ambiguous_name_is_bad_input_not_a_missing_organisation() -> None:
    """``AmbiguousName`` is an ``InvalidInput`` (type more), never caught as ``NotFound``."""
    assert issubclass(errors.AmbiguousName, errors.InvalidInput)
    assert not issubclass(errors.AmbiguousName, errors.NotFound)


def test_no_public_error_class_outside_the_error_module() -> None:
    """A public exception class anywhere in irflow but ``errors.py`` would escape the tree."""
    bases = set(ERRORS) | {
        name
        for name, value in vars(builtins).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    strays = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "errors.py" or path.parent != PACKAGE
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
        and not node.name.startswith("_")
        and any(ast.unparse(base).rsplit(".", 1)[-1] in bases for base in node.bases)
    ]
    assert strays == []


def test_unauthenticated_is_not_allowed() -> None:
    """``Unauthenticated`` is a ``NotAllowed`` (exit 4): a caller that catches the one
    catches the other."""
    assert issubclass(errors.Unauthenticated, errors.NotAllowed)
    assert irflow.Unauthenticated is errors.Unauthenticated
