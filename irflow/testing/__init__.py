"""Test doubles for code that embeds irflow, and property tests for any flow file.

- ``MovableClock``: a clock that a test moves by hand (``advance``, ``set``).
- ``MemoryNotifier``: the in-memory notifier (from ``irflow.notifiers.memory``),
  re-exported here beside the other doubles.
- hypothesis strategies: ``moments()``, ``time_steps()``, ``case_kinds(flow)``,
  ``notes()``.
- ``flow_state_machine(flow)``: a hypothesis ``RuleBasedStateMachine`` that drives
  the real ``Engine`` with random commands on cases of ``flow`` and checks the
  engine's invariants after each one. A flow of phases and steps (incident,
  mislink) gets a ``PhaseFlowMachine``, a flow of states and actions (inquiry) a
  ``StateFlowMachine``; both are ``FlowMachine`` classes.

Property-testing a flow of your own takes a few lines; pytest collects
``TestMyFlow`` like any other test::

    from pathlib import Path

    from hypothesis import settings

    from irflow import load_flow_file
    from irflow.testing import flow_state_machine

    MyFlow = flow_state_machine(load_flow_file(Path("flows/my_flow.yaml")))
    TestMyFlow = MyFlow.TestCase
    TestMyFlow.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)

Without a URL the machine works on a fresh SQLite file in a temporary folder, one
per machine class, shared by every example (the cases of one example are new
cases, independent of the others). Pass ``url="postgresql://USER@HOST/DB"`` to run
the same checks on PostgreSQL; the machine runs ``Engine.init`` there and adds
cases, so give it a database (or schema) for tests. Inside a pytest test, with a
database URL from a fixture::

    from hypothesis.stateful import run_state_machine_as_test

    def test_my_flow(tmp_path):
        machine = flow_state_machine(my_flow, f"sqlite:///{tmp_path}/flow.db")
        try:
            run_state_machine_as_test(machine, settings=settings(deadline=None))
        finally:
            machine.close()

What the machine does on a flow of phases, at random: opens cases with kinds the
flow takes (and sometimes kinds it does not, or reporters that cannot report) for
reporters from the directory; completes steps by the right participant, declaring
the flow's flags on the way; fires any step as any actor (participants and
outsiders), with and without a stale ``expect_version``; reassigns coordinators;
asks for the contact plans of open steps (``Engine.contacts``); moves the clock
and sweeps the escalation rungs that fell due (``Engine.sweep``).

What it checks, after every command:

- the case's state is one the flow declares, and it never moves back;
- a refused command (any ``IrflowError``) changed nothing: not the case row (its
  version, state, flags, steps, coordinator, chain, last hash), not the number of
  cases, timeline events or outbox messages, not the case's deadlines; anything
  else raised is a failure;
- an actor who is not a participant, or whose roles do not include the step's
  tier, is refused with ``NotAllowed``, whatever the step's state; a stale
  ``expect_version`` never succeeds; a step is never done twice;
- a command that succeeded wrote exactly one event and raised the version by one;
- the timeline replays (``Engine.replay``) to the stored state, and every hash
  chain verifies (``Engine.verify``);
- every done step was done by the participant of its tier at that moment (the
  coordinator may have been reassigned since); a closed case has every step it
  requires done; a case that is not closed has a required step open, so it can
  always move on;
- a sweep fires only rungs that are due, each once, and only for steps not done,
  and leaves none of the example's rungs due and unfired;
- the case keeps escalation deadlines for exactly its open required steps that
  have one, each with its whole ladder.

What the machine does on a flow of states and actions (with a ``chain:`` of
reception tiers, like the inquiry), at random: opens cases (asks) by
organisations that can ask and some that cannot, with and without the flow's
confirmations, with notes or none; fires any action of the flow (and one it does
not have) by chain members and outsiders, with any note (empty too), any moment
and any ``expect_version``, and mostly the action the case is waiting for by the
link that may do it, so that cases go all the way up the chain and back; looks
at cases (``Engine.case``, ``Engine.cases``) and runs the other commands
(``contacts``, ``declare``, ``assign_coordinator``) as members and outsiders;
moves the clock and sweeps.

What it checks there: the same for states, refusals, versions, replay and hash
chains, and a model of the flow file decides every command up front (who may do
an action, from which state, whether ``only_if`` and ``needs_note`` allow it,
how the holder moves and which target state it leads to): the engine must do
exactly that, or refuse exactly then. After every command the case's chain is
its asker followed by successive reception tiers without repeats, the holder is
a link of it, every action on the timeline was done by the link that could do
it then, each action that tells the holder queued its messages (one per channel)
to the new holder only, each rung fired told the holder (remind) or its reception
tier (notify; a tier not yet in the chain joins it), and the case has deadline
rows exactly for its current state if that state has a duty (each with its whole
ladder, from the moment the state was entered).
A case is shown to its chain members (and to ``SYSTEM``) by ``case(viewer=)`` and
``cases(viewer=)``, and to nobody else: an outsider gets ``NotFound`` with the very
message of a missing case, from ``case`` and from every command.
"""

try:
    import hypothesis as _hypothesis  # noqa: F401 - imported only to say what is missing
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "irflow.testing needs hypothesis; install irflow with its test extras: "
        "pip install 'irflow[test]'"
    ) from exc

# The modules are private (import from irflow.testing): _doubles (the clock),
# _strategies, _directory (whom the machines draw as actors), _machine (what both
# machines share), _phases and _phase_checks (flows of phases and steps), _states,
# _chain_model and _state_checks (flows of states and actions), _factory.
from irflow.notifiers.memory import MemoryNotifier as MemoryNotifier
from irflow.testing._doubles import MovableClock as MovableClock
from irflow.testing._factory import flow_state_machine as flow_state_machine
from irflow.testing._machine import FlowMachine as FlowMachine
from irflow.testing._phases import PhaseFlowMachine as PhaseFlowMachine
from irflow.testing._states import StateFlowMachine as StateFlowMachine
from irflow.testing._strategies import case_kinds as case_kinds
from irflow.testing._strategies import moments as moments
from irflow.testing._strategies import notes as notes
from irflow.testing._strategies import time_steps as time_steps

__all__ = [
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
