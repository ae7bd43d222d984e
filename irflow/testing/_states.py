"""The property machine for a flow of states and actions (the inquiry)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from hypothesis import note as hypothesis_note
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from irflow.clock import as_aware
from irflow.engine.flow import CLOSED
from irflow.engine.recorder import Advanced
from irflow.engine.rules import Viewer
from irflow.engine.views import CaseView
from irflow.errors import IrflowError, NotAllowed, NotFound
from irflow.testing._chain_model import ChainModel, Held, Moved
from irflow.testing._directory import UNKNOWN_ORG
from irflow.testing._machine import FlowMachine, attempt
from irflow.testing._state_checks import (
    check_chain,
    check_deadlines,
    check_hidden,
    check_messages,
    check_timeline,
    check_visibility,
    hidden_from,
    listed_to,
    missing_case,
    read_held,
    read_outbox,
)
from irflow.testing._strategies import case_kinds, moments, notes


class StateFlowMachine(FlowMachine):
    """The machine for a flow of states and actions, most with a chain (inquiry).

    A model of the flow file (``ChainModel.predict``) decides each command before the
    engine runs it; ``check_case`` replays every case's timeline through the same model.
    """

    def __init__(self) -> None:
        super().__init__()
        self.model = ChainModel(self.flow, self.engine.organisations())

    # ------------------------------------------------------------ asking

    @initialize(data=st.data())
    def ask_first(self, data: st.DataObject) -> None:
        """Every example starts with one case asked by someone who can ask."""
        self._ask_validly(data)

    @precondition(lambda self: len(self.cases) < self.max_cases)
    @rule(data=st.data())
    def ask(self, data: st.DataObject) -> None:
        """Another valid case, which the engine must accept."""
        self._ask_validly(data)

    def _ask_validly(self, data: st.DataObject) -> None:
        if not self.dir.askers:
            raise AssertionError(f"nobody in the directory can open a case of {self.flow.name}")
        asker = data.draw(
            st.sampled_from(self.dir.askers[:3]) | st.sampled_from(self.dir.askers),
            label="asker",
        )
        kinds = data.draw(case_kinds(self.flow), label="kinds")
        note = data.draw(notes(), label="note")
        confirmed = sorted(self.flow.spec.confirm)
        before = self._totals()
        done = self.engine.open_case(
            reporter=asker, title="property test", kinds=kinds, note=note, confirmed=confirmed
        )
        self._check_asked(done, asker, kinds, note, before)

    @precondition(lambda self: len(self.cases) < self.max_cases)
    @rule(data=st.data())
    def ask_anyhow(self, data: st.DataObject) -> None:
        """A case by anyone, with any confirmations, kinds, note, title and moment."""
        flow = self.flow
        asker = data.draw(
            st.sampled_from(self.dir.askers) | st.sampled_from(self.dir.cannot_ask), label="asker"
        )
        confirmed = data.draw(
            st.sampled_from([sorted(flow.spec.confirm)])
            | st.lists(st.sampled_from([*flow.spec.confirm, "no_such_confirmation"]), unique=True),
            label="confirmed",
        )
        kinds = data.draw(
            case_kinds(flow) | st.lists(st.sampled_from([*flow.spec.kinds, "no_such_kind"])),
            label="kinds",
        )
        # A chain's receivers come from the directory; naming a coordinator is refused.
        coordinator = (
            data.draw(st.none() | st.sampled_from(self.dir.everyone), label="coordinator")
            if flow.is_chain
            else None
        )
        title = data.draw(st.sampled_from(["property test", "property test", "", "  "]))
        note = data.draw(notes(), label="note")
        at = data.draw(st.none() | moments(), label="at")
        before = self._totals()
        done = attempt(
            lambda: self.engine.open_case(
                reporter=asker,
                title=title,
                kinds=kinds,
                coordinator=coordinator,
                at=at,
                note=note,
                confirmed=confirmed,
            )
        )
        if isinstance(done, IrflowError):
            hypothesis_note(f"ask by {asker} refused: {type(done).__name__}: {done}")
            assert self._totals() == before, "a refused ask wrote something"
            if flow.is_chain:
                assert not self.model.may_ask(asker, kinds, confirmed, coordinator, title), (
                    f"{asker} could not ask (kinds {kinds}, confirmed {confirmed}): {done!r}"
                )
            return
        if flow.is_chain:
            assert self.model.may_ask(asker, kinds, confirmed, coordinator, title), (
                f"the engine let {asker} ask (kinds {kinds}, confirmed {confirmed}, "
                f"coordinator {coordinator}, title {title!r})"
            )
        self._check_asked(done, asker, kinds, note, before)

    def _check_asked(
        self,
        done: Advanced,
        asker: str,
        kinds: Sequence[str],
        note: str | None,
        before: tuple[int, ...],
    ) -> None:
        flow = self.flow
        self.cases.append(done.case_id)
        self.touched.add(done.case_id)
        held = read_held(self.engine, done.case_id)
        view = self.engine.case(done.case_id, viewer=asker)
        assert view.flow == flow.name, f"case opened under {view.flow}, not {flow.name}"
        assert held.state == view.state == flow.states[0] == done.state
        assert view.version == done.version == 1
        assert held.asker == asker
        assert view.kinds == sorted(set(kinds) or {flow.spec.default_kind})
        assert [e.action for e in view.timeline] == ["opened"]
        assert view.timeline[0].note == note
        if flow.is_chain:
            started = self.model.start(asker)
            assert (held.links, held.at) == (started, 1), (
                f"{asker} asked and the chain is {held.links} held at {held.at}, "
                f"not {started} held by {started[1]}"
            )
        rows = read_outbox(self.engine, done.case_id)
        if flow.is_chain and flow.spec.opening is not None:
            first = held.links[1]
            assert rows, f"the ask queued no message to {first}"
            assert all(seq == 1 and to == [first] for seq, to in rows), (
                f"the ask queued {rows}, not one message per channel to {first}"
            )
        else:
            assert not rows, f"the ask queued {rows}"
        after = self._totals()
        assert after[:3] == (before[0] + 1, before[1] + 1, before[2] + len(rows))

    # ------------------------------------------------------------ actions

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def act_as_expected(self, data: st.DataObject) -> None:
        """An action the case's state allows, by the link that may do it, with a note and
        a moment no earlier than the case's latest event: the engine does exactly what
        the model says (which may still be a refusal, e.g. escalating at the top)."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        held = read_held(self.engine, case_id)
        possible = [a.id for a in self.flow.actions.values() if held.state in a.sources]
        if not possible:
            return  # closed: act_anyhow tries it all the same
        action = self.flow.actions[data.draw(st.sampled_from(possible), label="action")]
        actor = held.links[0] if action.by == "opener" and held.links else held.holder
        note = data.draw(notes(), label="note")
        if action.needs_note and not (note and note.strip()):
            note = f"{action.title}: {note or ''}"
        expect = data.draw(st.sampled_from([None, held.version]), label="expect_version")
        at = max(self.clock.now(), held.last_at)
        self._act_and_check(case_id, held, action.id, actor, note, at, expect)

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def act_anyhow(self, data: st.DataObject) -> None:
        """Any action (or one the flow lacks) by anyone, with any note, moment and version."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        held = read_held(self.engine, case_id)
        name = data.draw(st.sampled_from([*self.flow.actions, "no_such_action"]), label="action")
        actor = data.draw(
            st.sampled_from(sorted(held.members))
            | st.sampled_from([*self.dir.everyone, UNKNOWN_ORG]),
            label="actor",
        )
        v = held.version
        expect = data.draw(st.sampled_from([None, v, v - 1, v + 1]), label="expect_version")
        at = data.draw(st.none() | st.just(held.last_at) | moments(), label="at")
        note = data.draw(notes(), label="note")
        self._act_and_check(case_id, held, name, actor, note, at, expect)

    def _act_and_check(
        self,
        case_id: int,
        held: Held,
        name: str,
        actor: str,
        note: str | None,
        at: datetime | None,
        expect: int | None,
    ) -> None:
        moment = as_aware(at) if at is not None else self.clock.now()
        expected = self.model.predict(held, name, actor, note, moment, expect)
        before = self._snapshot(case_id)
        self.touched.add(case_id)
        result = attempt(
            lambda: self.engine.advance(
                case_id, name, actor=actor, note=note, at=at, expect_version=expect
            )
        )
        if isinstance(result, IrflowError):
            hypothesis_note(f"{name} by {actor} refused: {type(result).__name__}: {result}")
            self._check_unchanged(case_id, before)
            assert not isinstance(expected, Moved), (
                f"{actor} could not do {name} on case {case_id} ({held.state}, held by "
                f"{held.holder}); the flow leads it to {expected}: {result!r}"
            )
            assert isinstance(result, expected), (
                f"{name} by {actor} got {type(result).__name__}, not {expected.__name__}: {result}"
            )
            if hidden_from(self.flow, held, actor):
                assert str(result) == missing_case(self.engine, case_id), (
                    f"outsider {actor} was told {result}, not what a missing case tells"
                )
            return
        assert isinstance(expected, Moved), (
            f"{actor} did {name} on case {case_id} ({held.state}, held by {held.holder}), "
            f"which the flow refuses ({expected.__name__})"
        )
        now = read_held(self.engine, case_id)
        assert (now.state, now.links, now.at) == (expected.state, expected.links, expected.at), (
            f"{name} by {actor} left case {case_id} {now.state} with chain {now.links} held "
            f"at {now.at}; the flow leads it to {expected}"
        )
        after = self._snapshot(case_id)
        assert after.row[0] == before.row[0] + 1 == result.version == now.version
        assert after.events == before.events + 1
        assert after.all_cases == before.all_cases
        event = result.event
        assert (event.action, event.step, event.actor) == ("action_taken", name, actor)
        assert (event.from_state, event.to_state) == (held.state, expected.state)
        queued = [to for seq, to in read_outbox(self.engine, case_id) if seq == event.seq]
        assert after.all_outbox == before.all_outbox + len(queued), (
            "the action queued messages for another case"
        )
        if self.flow.actions[name].notify == "holder" and self.flow.is_chain:
            holder = expected.links[expected.at]
            assert queued, f"{name} by {actor} told nobody; it tells the new holder {holder}"
            assert all(to == [holder] for to in queued), (
                f"{name} by {actor} queued messages to {queued}, not to the new holder {holder}"
            )
        else:
            assert not queued, f"{name} tells nobody, yet queued messages to {queued}"

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def look(self, data: st.DataObject) -> None:
        """Anyone looks at a case and at the case list: only members (and the system) see a case."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        held = read_held(self.engine, case_id)
        viewer = data.draw(
            st.sampled_from(sorted(held.members)) | st.sampled_from(self.dir.everyone),
            label="viewer",
        )
        listed = listed_to(self.engine, case_id, viewer)
        if hidden_from(self.flow, held, viewer):
            check_hidden(self.engine, case_id, viewer, missing_case(self.engine, case_id))
            assert not listed, f"outsider {viewer} finds case {case_id} in its list"
            return
        assert self.engine.case(case_id, viewer=viewer).id == case_id
        assert listed, f"{viewer} sees case {case_id} but not in its list"

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def other_commands(self, data: st.DataObject) -> None:
        """contacts, declare and assign_coordinator, by members and outsiders."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        held = read_held(self.engine, case_id)
        actor = data.draw(
            st.sampled_from(sorted(held.members)) | st.sampled_from(self.dir.everyone),
            label="actor",
        )
        flag = data.draw(st.sampled_from([*self.flow.spec.flags, "no_such_flag"]), label="flag")
        target = data.draw(st.sampled_from(self.dir.everyone), label="coordinator")
        commands: dict[str, Callable[[], Any]] = {
            "contacts": lambda: self.engine.contacts(case_id, actor=actor),
            "declare": lambda: self.engine.declare(case_id, flag, actor=actor),
            "assign_coordinator": lambda: self.engine.assign_coordinator(
                case_id, coordinator=target, actor=actor
            ),
        }
        command = data.draw(st.sampled_from(sorted(commands)), label="command")
        before = self._snapshot(case_id)
        self.touched.add(case_id)
        result = attempt(commands[command])
        if isinstance(result, IrflowError):
            hypothesis_note(f"{command} by {actor} refused: {type(result).__name__}: {result}")
            self._check_unchanged(case_id, before)
            if hidden_from(self.flow, held, actor):
                assert isinstance(result, NotFound), f"outsider {actor} got {result!r}"
                assert str(result) == missing_case(self.engine, case_id), (
                    f"outsider {actor} got {result!r} from {command}, not what a missing case tells"
                )
            elif actor not in held.members:
                assert isinstance(result, NotAllowed), f"outsider {actor} got {result!r}"
            return
        assert actor in held.members, f"outsider {actor} ran {command} on case {case_id}"
        if isinstance(result, Advanced):
            after = self._snapshot(case_id)
            assert after.row[0] == before.row[0] + 1 == result.version
            assert after.row[1] == before.row[1], f"{command} moved the state"
            assert after.row[7:9] == before.row[7:9], f"{command} changed the chain"
        elif not result:
            self._check_unchanged(case_id, before)

    # ------------------------------------------------------------ invariants

    def check_case(self, case_id: int) -> CaseView:
        """State declared, replay equals state, hash chain verifies, the chain is the
        asker's reception tiers, the timeline is a run the flow allows, deadlines for
        exactly the current state's duty, messages to the holders, and visibility."""
        held = read_held(self.engine, case_id)
        view = super().check_case(case_id)
        assert view.state == held.state, "the case row and its view differ"
        assert (view.closed_at is not None) == (view.state == CLOSED)
        check_chain(self.model, held, view)
        check_timeline(self.model, held, view)
        check_deadlines(self.flow, held, view)
        check_messages(self.flow, read_outbox(self.engine, case_id), view)
        check_visibility(self.engine, self.flow, self.dir.everyone, case_id, held)
        return view

    def viewer(self, case_id: int) -> Viewer:
        return read_held(self.engine, case_id).asker  # a case is shown to its asker
