"""The hypothesis strategies: moments and case kinds."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irflow.engine.flow import BUNDLED, bundled_flow
from irflow.testing import case_kinds, moments


@given(moments())
def test_moments_are_aware(moment: datetime) -> None:
    """moments() gives timezone-aware datetimes only."""
    assert moment.utcoffset() is not None


@pytest.mark.parametrize("name", BUNDLED)
@settings(max_examples=30)
@given(data=st.data())
def test_case_kinds_are_accepted_by_their_flow(name: str, data: st.DataObject) -> None:
    """Every kinds tuple case_kinds(flow) draws is one the flow takes."""
    flow = bundled_flow(name)
    kinds = data.draw(case_kinds(flow))
    chosen = frozenset(kinds) or {flow.spec.default_kind}
    assert flow.kinds_valid(frozenset(chosen))
    if flow.spec.selected_by:
        assert flow.spec.selected_by in kinds
