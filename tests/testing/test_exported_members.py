"""irflow.testing's public surface: exactly the names it documents, each one defined."""

from __future__ import annotations

import irflow.testing

#: What embedders import from irflow.testing (README, the module docstring, the tests).
PUBLIC = [
    "FlowMachine",
    "MemoryNotifier",
    "MovableClock",
    "PhaseFlowMachine",
    "StateFlowMachine",
    "case_kinds",
    "flow_state_machine",
    "moments",
    "notes",
    "time_steps",
]


def test_all_lists_the_public_names_sorted() -> None:
    """``irflow.testing.__all__`` is the pinned list of public names, in sorted order."""
    assert irflow.testing.__all__ == PUBLIC
    assert sorted(irflow.testing.__all__) == irflow.testing.__all__


def test_dir_shows_the_public_names_and_nothing_else_public() -> None:
    """``dir(irflow.testing)`` has every public name, and no other name without a
    leading underscore (no stray imports such as ``Any`` or ``Engine``)."""
    public = [name for name in dir(irflow.testing) if not name.startswith("_")]
    assert public == PUBLIC


def test_every_public_name_is_defined_and_documented() -> None:
    """Each name of ``__all__`` is a documented irflow object of that name, and a star
    import brings exactly these names."""
    namespace: dict[str, object] = {}
    exec("from irflow.testing import *", namespace)
    assert sorted(set(namespace) - {"__builtins__"}) == PUBLIC
    for name in PUBLIC:
        member = getattr(irflow.testing, name)
        assert member.__name__ == name
        assert member.__module__.startswith("irflow."), f"{name} comes from {member.__module__}"
        assert member.__doc__, f"{name} has no docstring"
