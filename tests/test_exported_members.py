"""The public names of ``irflow``: exactly these, listed by ``dir()``, loaded on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import irflow
from tests.conftest import assert_exports


def test_irflow_exports_exactly_its_public_names() -> None:
    """``irflow.__all__`` is this sorted list; ``dir()`` shows it; nothing private leaks."""
    assert_exports(
        irflow,
        [
            "Advanced",
            "AmbiguousName",
            "CaseSummary",
            "CaseView",
            "ChainReport",
            "Clock",
            "Conflict",
            "DeliveryFailed",
            "Engine",
            "Event",
            "FixedClock",
            "Flow",
            "InitReport",
            "InvalidFlow",
            "InvalidInput",
            "IrflowError",
            "NoSuchCase",
            "NotAllowed",
            "NotFound",
            "NotInitialised",
            "OrgType",
            "Organisation",
            "SYSTEM",
            "StepNotOpen",
            "StepView",
            "StorageError",
            "SystemClock",
            "SystemViewer",
            "TemplateFieldError",
            "Tier",
            "Unauthenticated",
            "load_flow_file",
            "parse_flow",
            "parse_moment",
        ],
    )


def test_listing_and_the_errors_do_not_import_the_database_stack() -> None:
    """``dir(irflow)`` and ``irflow.IrflowError`` leave the engine and SQLAlchemy unloaded."""
    code = (
        "import sys, irflow; names = dir(irflow); irflow.IrflowError; "
        "print('Engine' in names, 'irflow.engine' in sys.modules, 'sqlalchemy' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True", "False", "False"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A name irflow does not export fails as any missing module attribute does."""
    with pytest.raises(AttributeError, match="module 'irflow' has no attribute 'Nonexistent'"):
        irflow.Nonexistent  # type: ignore[attr-defined]  # noqa: B018
