"""The property machine for a flow of phases and steps (incident, mislink)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import note as hypothesis_note
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from irflow.engine.recorder import Advanced
from irflow.engine.rules import SYSTEM
from irflow.engine.views import CaseView
from irflow.errors import IrflowError, NotAllowed, NotFound
from irflow.testing._directory import UNKNOWN_ORG
from irflow.testing._machine import FlowMachine, Snapshot
from irflow.testing._phase_checks import check_phase_case, check_refusal, participants_of
from irflow.testing._strategies import case_kinds, moments, notes


class PhaseFlowMachine(FlowMachine):
    """The machine for a flow of phases and steps (incident, mislink)."""

    # ------------------------------------------------------------ opening cases

    @initialize(data=st.data())
    def open_first_case(self, data: st.DataObject) -> None:
        """Every example starts with one case a municipality or prefecture opens."""
        self._open_valid(data)

    @precondition(lambda self: len(self.cases) < self.max_cases)
    @rule(data=st.data())
    def open_case(self, data: st.DataObject) -> None:
        """Another valid case, which the engine must accept."""
        self._open_valid(data)

    def _open_valid(self, data: st.DataObject) -> None:
        if not self.dir.reporters:
            raise AssertionError(
                "the directory has no municipality or prefecture with a default coordinator; "
                "the machine needs one to open cases"
            )
        reporter = data.draw(st.sampled_from(self.dir.reporters), label="reporter")
        kinds = data.draw(case_kinds(self.flow), label="kinds")
        before = self._totals()
        done = self.engine.open_case(reporter=reporter, title="property test", kinds=kinds)
        self._check_opened(done, reporter, kinds, before)

    @precondition(lambda self: len(self.cases) < self.max_cases)
    @rule(data=st.data())
    def open_any_case(self, data: st.DataObject) -> None:
        """A case with any reporter, kinds, coordinator and title: accepted or refused whole."""
        reporter = data.draw(
            st.sampled_from(self.dir.reporters) | st.sampled_from(self.dir.unusual_reporters),
            label="reporter",
        )
        usual = st.sampled_from([True, True, True, False])
        if data.draw(usual, label="usual kinds"):
            kinds: Sequence[str] = data.draw(case_kinds(self.flow), label="kinds")
        else:
            kinds = data.draw(
                st.lists(st.sampled_from([*self.flow.spec.kinds, "no_such_kind"])), label="kinds"
            )
        if data.draw(usual, label="usual coordinator"):
            # Name a coordinator where the directory gives none, as a person would.
            coordinator = (
                None
                if reporter in self.dir.has_default_coordinator
                else data.draw(st.sampled_from(self.dir.coordinators), label="coordinator")
            )
        else:
            coordinator = data.draw(
                st.none() | st.sampled_from([*self.dir.coordinators, reporter, UNKNOWN_ORG]),
                label="coordinator",
            )
        title = "property test"
        if not data.draw(usual, label="usual title"):
            title = data.draw(st.sampled_from(["", "  "]), label="title")
        at = data.draw(st.none() | moments(), label="at")
        before = self._totals()
        try:
            done = self.engine.open_case(
                reporter=reporter, title=title, kinds=kinds, coordinator=coordinator, at=at
            )
        except IrflowError as exc:
            hypothesis_note(f"open refused: {type(exc).__name__}: {exc}")
            assert self._totals() == before, "a refused open_case wrote something"
            return
        assert title.strip(), "a case was opened without a title"
        self._check_opened(done, reporter, kinds, before)

    def _check_opened(
        self, done: Advanced, reporter: str, kinds: Sequence[str], before: tuple[int, ...]
    ) -> None:
        self.cases.append(done.case_id)
        self.touched.add(done.case_id)
        view = self.engine.case(done.case_id, viewer=SYSTEM)
        assert view.flow == self.flow.name, f"case opened under {view.flow}, not {self.flow.name}"
        assert view.state == self.flow.states[0] == done.state
        assert view.version == done.version == 1
        assert view.reporter.id == self.engine.organisation(reporter).id
        assert view.kinds == sorted(set(kinds) or {self.flow.spec.default_kind})
        assert [e.action for e in view.timeline] == ["opened"]
        assert self._totals()[:2] == (before[0] + 1, before[1] + 1)

    # ------------------------------------------------------------ commands on cases

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def do_open_steps(self, data: st.DataObject) -> None:
        """Complete open steps of one case by the right participant, maybe declaring flags."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        view = self.engine.case(case_id, viewer=SYSTEM)
        for _ in range(data.draw(st.integers(1, 12), label="how many")):
            open_steps = [s for s in view.steps if s.status == "open"]
            if not open_steps:
                break
            step = data.draw(st.sampled_from(open_steps), label="step")
            actor = participants_of(view)[step.tier]
            own_flags = sorted(
                f for f, spec in self.flow.spec.flags.items() if spec.declared_by == step.tier
            )
            declare = data.draw(
                st.just([]) if not own_flags else st.lists(st.sampled_from(own_flags), max_size=1),
                label="declare",
            )
            before = self._snapshot(case_id)
            # The right participant, now or later than the case's latest event: this
            # command must go through (a command dated earlier is refused by design).
            moment = max(self.clock.now(), view.timeline[-1].at)
            try:
                result = self.engine.advance(
                    case_id,
                    step.id,
                    actor=actor,
                    declare=declare,
                    note=data.draw(notes(), label="note"),
                    expect_version=data.draw(st.sampled_from([None, view.version])),
                    at=moment,
                )
            except IrflowError as exc:
                hypothesis_note(f"open step {step.id} refused: {type(exc).__name__}: {exc}")
                self._check_unchanged(case_id, before)
                if not declare:
                    raise AssertionError(f"{actor} could not do open step {step.id!r}") from exc
                continue
            self._check_advanced(case_id, before, result, step.id, actor)
            view = self.check_case(case_id)

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def fire_any_step(self, data: st.DataObject) -> None:
        """Any step (or a made-up one) as any actor, with any flags and any expected version."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        participants = self._participants(case_id)
        step_id = data.draw(st.sampled_from([*self.flow.steps, "no_such_step"]), label="step")
        actor = data.draw(
            st.sampled_from(list(participants.values()))
            | st.sampled_from([*self.dir.outsiders, UNKNOWN_ORG]),
            label="actor",
        )
        declare = data.draw(
            st.lists(st.sampled_from([*self.flow.spec.flags, "no_such_flag"]), max_size=2),
            label="declare",
        )
        before = self._snapshot(case_id)
        version = before.row[0]
        expect = data.draw(
            st.sampled_from([None, version, version - 1, version + 1]), label="expect_version"
        )
        try:
            result = self.engine.advance(
                case_id,
                step_id,
                actor=actor,
                declare=declare,
                expect_version=expect,
                note=data.draw(notes(), label="note"),
                at=data.draw(st.none() | moments()),
            )
        except IrflowError as exc:
            hypothesis_note(f"{step_id} by {actor} refused: {type(exc).__name__}: {exc}")
            self._check_unchanged(case_id, before)
            check_refusal(self.flow, exc, step_id, actor, participants)
            return
        finally:
            self.touched.add(case_id)
        assert step_id in self.flow.steps
        assert actor != UNKNOWN_ORG
        step = self.flow.steps[step_id]
        assert participants[step.tier] == actor, (
            f"{actor} did step {step_id!r} of tier {step.tier}, whose participant is "
            f"{participants[step.tier]}"
        )
        assert expect in (None, version), f"a stale expect_version {expect} was accepted"
        self._check_advanced(case_id, before, result, step_id, actor)

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def assign_coordinator(self, data: st.DataObject) -> None:
        """Reassign a case's coordinator, by any actor, to anyone."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        participants = self._participants(case_id)
        actor = data.draw(
            st.sampled_from([participants["operator"], participants["coordinator"]])
            | st.sampled_from([participants["reporter"], *self.dir.outsiders]),
            label="actor",
        )
        target = data.draw(
            st.sampled_from(self.dir.assignable) | st.sampled_from(list(participants.values())),
            label="coordinator",
        )
        before = self._snapshot(case_id)
        version = before.row[0]
        expect = data.draw(
            st.sampled_from([None, None, version, version - 1]), label="expect_version"
        )
        try:
            result = self.engine.assign_coordinator(
                case_id, coordinator=target, actor=actor, expect_version=expect
            )
        except IrflowError as exc:
            hypothesis_note(f"assign {target} by {actor} refused: {type(exc).__name__}: {exc}")
            self._check_unchanged(case_id, before)
            if actor not in participants.values():
                if not isinstance(exc, NotFound):
                    raise AssertionError(f"outsider {actor} got {type(exc).__name__}") from exc
            elif actor not in (participants["operator"], participants["coordinator"]) and not (
                isinstance(exc, NotAllowed)
            ):
                raise AssertionError(
                    f"{actor} (neither operator nor coordinator) got {type(exc).__name__}, "
                    "not NotAllowed"
                ) from exc
            return
        finally:
            self.touched.add(case_id)
        assert actor in (participants["operator"], participants["coordinator"])
        assert expect in (None, version), f"a stale expect_version {expect} was accepted"
        after = self._snapshot(case_id)
        assert after.row[0] == version + 1 == result.version
        assert after.row[1] == before.row[1], "reassigning the coordinator moved the state"
        assert after.row[4] == target != participants["reporter"]
        assert after.events == before.events + 1
        assert result.event.action == "coordinator_assigned"
        assert dict(result.event.payload) == {"from": participants["coordinator"], "to": target}

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def show_contacts(self, data: st.DataObject) -> None:
        """Ask for the contact plans of one's open steps, which records them on the timeline."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        view = self.engine.case(case_id, viewer=SYSTEM)
        participants = participants_of(view)
        # Mostly someone with an open step (whose contacts there are to show).
        owners = sorted({participants[s.tier] for s in view.steps if s.status == "open"})
        actor = data.draw(
            st.sampled_from(owners or list(participants.values()))
            | st.sampled_from([*participants.values(), *self.dir.outsiders]),
            label="actor",
        )
        before = self._snapshot(case_id)
        try:
            shown = self.engine.contacts(case_id, actor=actor, at=data.draw(st.none() | moments()))
        except IrflowError as exc:
            hypothesis_note(f"contacts for {actor} refused: {type(exc).__name__}: {exc}")
            self._check_unchanged(case_id, before)
            if actor not in participants.values() and not isinstance(exc, NotFound):
                raise AssertionError(f"outsider {actor} got {type(exc).__name__}") from exc
            return
        finally:
            self.touched.add(case_id)
        assert actor in participants.values(), f"outsider {actor} was shown contacts"
        if not shown:
            self._check_unchanged(case_id, before)
            return
        roles = {role for role, who in participants.items() if who == actor}
        steps = {s.id: s for s in view.steps}
        for contact in shown:
            step = steps[contact.step]
            assert step.status == "open", f"contacts shown for step {step.id} ({step.status})"
            assert step.tier in roles, f"{actor} was shown contacts for a {step.tier} step"
        after = self._snapshot(case_id)
        assert after.row[0] == before.row[0] + 1
        assert after.row[1] == before.row[1], "showing contacts moved the state"
        assert after.row[3] == before.row[3], "showing contacts changed the steps done"
        assert after.events == before.events + 1
        assert self.engine.timeline(case_id, viewer=SYSTEM)[-1].action == "contacts_shown"

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def declare_flag(self, data: st.DataObject) -> None:
        """Declare a flag (or no flag the flow has) on a case, by anyone, outside any step."""
        case_id = data.draw(st.sampled_from(self.cases), label="case")
        participants = self._participants(case_id)
        flag = data.draw(st.sampled_from([*self.flow.spec.flags, "no_such_flag"]), label="flag")
        actor = data.draw(
            st.sampled_from([*participants.values(), *self.dir.outsiders]), label="actor"
        )
        view = self.engine.case(case_id, viewer=SYSTEM)
        before = self._snapshot(case_id)
        try:
            result = self.engine.declare(
                case_id, flag, actor=actor, at=max(self.clock.now(), view.timeline[-1].at)
            )
        except IrflowError as exc:
            hypothesis_note(f"declare {flag} by {actor} refused: {type(exc).__name__}: {exc}")
            self._check_unchanged(case_id, before)
            if actor not in participants.values() and not isinstance(exc, NotFound):
                raise AssertionError(f"outsider {actor} got {exc!r}") from exc
            return
        finally:
            self.touched.add(case_id)
        spec = self.flow.spec.flags[flag]
        assert participants[spec.declared_by] == actor, f"{actor} declared {flag}"
        after = self._snapshot(case_id)
        assert after.row[0] == before.row[0] + 1 == result.version
        assert after.row[1] == before.row[1], "declaring a flag moved the state"
        assert after.events == before.events + 1
        assert result.event.action == "flag_declared"

    # ------------------------------------------------------------ invariants

    def check_case(self, case_id: int) -> CaseView:
        """State declared, replay equals state, chain verifies, steps done by the right tier,
        and deadlines kept for exactly the open steps the case needs."""
        view = super().check_case(case_id)
        check_phase_case(self.flow, view)
        return view

    # ------------------------------------------------------------ helpers

    def _participants(self, case_id: int) -> dict[str, str]:
        return participants_of(self.engine.case(case_id, viewer=SYSTEM))

    def _check_advanced(
        self, case_id: int, before: Snapshot, result: Advanced, step_id: str, actor: str
    ) -> None:
        after = self._snapshot(case_id)
        assert after.row[0] == before.row[0] + 1 == result.version
        assert after.events == before.events + 1
        assert (after.all_cases, after.all_events) == (before.all_cases, before.all_events + 1)
        assert after.row[1] == result.state
        assert self.flow.phase_index[result.state] >= self.flow.phase_index[before.row[1]]
        assert result.event.action == "step_completed"
        assert result.event.step == step_id
        assert result.event.actor == actor
