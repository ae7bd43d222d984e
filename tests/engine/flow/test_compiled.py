"""The compiled flow: its identity is the digest of its text."""

from __future__ import annotations

from irflow.engine.flow import parse_flow
from tests.engine.flow.tiny import TINY


def test_same_text_same_digest_changed_text_new_digest() -> None:
    """A flow's identity (its version) is the digest of its text."""
    assert parse_flow(TINY).digest == parse_flow(TINY).digest
    assert parse_flow(TINY).digest != parse_flow(TINY.replace("最初", "最初の段階")).digest
