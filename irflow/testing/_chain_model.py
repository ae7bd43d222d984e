"""A model of a flow of states and actions (the inquiry): what the flow file says each
command does to a case, decided before the engine runs it.

Whom an organisation's case reaches first, and whom an overdue holder's rung tells,
are the engine's rules (``irflow.engine.chain``), asked here rather than copied. How
an action moves the holder, and which guard and target it meets, the model works out
from the flow file itself: that is what the machine checks the engine against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from irflow.engine import chain as chain_rules
from irflow.engine.directory import Organisation
from irflow.engine.flow import CaseFacts, Flow
from irflow.errors import IrflowError, NotAllowed, NotFound
from irflow.testing._directory import UNKNOWN_ORG, reception_of


@dataclass(frozen=True)
class Held:
    """A case of a state flow as the model sees it: its state and who holds it."""

    state: str
    version: int
    participants: tuple[str, str, str]
    """Reporter (the asker), coordinator, operator."""
    links: tuple[str, ...]
    """The chain, the asker first; empty for a flow without a chain."""
    at: int
    kinds: frozenset[str]
    flags: frozenset[str]
    last_at: datetime
    """The moment of the case's latest event (no command may be dated before it)."""

    @property
    def asker(self) -> str:
        return self.participants[0]

    @property
    def holder(self) -> str:
        return self.links[self.at] if self.links else self.asker

    @property
    def members(self) -> frozenset[str]:
        """Who takes part: the chain's links, or a chainless case's participants."""
        return frozenset(self.links or self.participants)


@dataclass(frozen=True)
class Moved:
    """Where an action the flow allows takes a case."""

    state: str
    links: tuple[str, ...]
    at: int


#: Why the model expects a command to be refused: an error class the engine must
#: raise (NotFound, NotAllowed), or IrflowError for a refusal of any kind.
Refusal = type[IrflowError]


@dataclass(frozen=True)
class ChainModel:
    """The rules of ``flow`` over the directory ``orgs``."""

    flow: Flow
    orgs: Mapping[str, Organisation]

    def above(self, org_id: str) -> str | None:
        """The reception tier of ``org_id``; None at the top, or for a chainless flow."""
        return reception_of(self.flow, org_id, self.orgs)

    def start(self, asker: str) -> tuple[str, ...]:
        """The chain of a case ``asker`` opens: itself and its reception tier."""
        return tuple(chain_rules.start(self.flow, self.orgs[asker], self.orgs))

    def may_ask(
        self,
        asker: str,
        kinds: Sequence[str],
        confirmed: Sequence[str],
        coordinator: str | None,
        title: str,
    ) -> bool:
        """Whether a case of a chain flow may be opened so, by the flow file."""
        spec = self.flow.spec
        chosen = set(kinds)
        kinds_ok = chosen <= set(spec.kinds) and (
            spec.selected_by in chosen if spec.selected_by else True
        )
        return (
            kinds_ok
            and bool(title.strip())
            and coordinator is None
            and set(confirmed) == set(spec.confirm)
            and self.above(asker) is not None
        )

    def predict(
        self,
        case: Held,
        name: str,
        actor: str,
        note: str | None,
        moment: datetime,
        expect: int | None,
    ) -> Moved | Refusal:
        """What the flow file says ``name`` by ``actor`` does to ``case``: where it takes
        the case, or which refusal (the kind of it only where the rules fix it)."""
        flow = self.flow
        if actor == UNKNOWN_ORG:
            return NotFound
        if actor not in case.members:
            return NotFound
        action = flow.actions.get(name)
        if action is None:
            return NotFound
        who = case.links[0] if action.by == "opener" and case.links else case.holder
        if actor != who:
            return NotAllowed
        if moment < case.last_at or expect not in (None, case.version):
            return IrflowError
        if case.state not in action.sources:
            return IrflowError
        if action.only_if is not None and not action.only_if(self.facts(case, case.links, case.at)):
            return IrflowError
        if action.needs_note and not (note and note.strip()):
            return IrflowError
        moved = self.move(action.move, case.links, case.at)
        if moved is None:
            return IrflowError
        links, at = moved
        facts = self.facts(case, links, at)
        for state, guard in action.targets:
            if guard is None or guard(facts):
                return Moved(state, links, at)
        return IrflowError

    def move(self, how: str, links: tuple[str, ...], at: int) -> tuple[tuple[str, ...], int] | None:
        """The chain and holder after a move, by the flow file; None: nowhere to go."""
        if how == "up":
            if at + 1 < len(links):
                return links, at + 1
            above = self.above(links[at])
            if above is None or above in links:
                return None
            return (*links, above), at + 1
        if how == "down":
            return links, max(at - 1, 0)
        if how == "first":
            return links, 1
        return links, at

    def facts(self, case: Held, links: tuple[str, ...], at: int) -> CaseFacts:
        """What the action's guards see once the holder stands at ``at`` of ``links``."""
        top = at + 1 >= len(links) and (not links or self.above(links[at]) is None)
        return CaseFacts(kinds=case.kinds, flags=case.flags, at_opener=at == 0, at_top=top)

    def supervisor(self, case: Held) -> str:
        """Whom a duty's ``notify`` rung tells: the holder's own reception tier (a
        chainless case has nobody above its holder)."""
        if not case.links:
            return case.holder
        return chain_rules.supervisor(self.flow, case.links, case.at, self.orgs)
