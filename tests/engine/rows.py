"""Case rows written straight into the tables, of every shape a list must read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlmodel import Session, col

from irflow.clock import JST
from irflow.engine.facade import Engine
from irflow.engine.tables import CaseRow, DeadlineRow

T0 = datetime(2026, 4, 1, 10, 0, tzinfo=JST)
SANJO, NIIGATA, JLIS, OPERATOR = "sanjo", "pref-niigata", "jlis", "mic-mynumber"
MIC = "mic"
#: Organisations of the bundled directory that cases name: 総務省's id is a part of
#: the operator's, so a match of a chain's link must be the whole id.
POOL = (SANJO, NIIGATA, JLIS, OPERATOR, "pref-ishikawa", MIC)
#: Where a hypothesis example's rows start: above the two cases the engine opened.
FIRST_ID = 10
#: A modest budget: each example writes its rows and walks its pages on the backend.
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@dataclass(frozen=True)
class Spec:
    """A case row to write: its flow, tiers, chain (a chain flow's) and deadlines."""

    gap: int
    flow: str
    state: str
    tiers: tuple[str, str, str]
    chain: tuple[str, ...]
    overdue: bool
    pending: bool  # a rung not fired yet: not overdue by itself


def specs(states: dict[str, Sequence[str]]) -> st.SearchStrategy[list[Spec]]:
    def one(flow: str) -> st.SearchStrategy[Spec]:
        chain = st.lists(st.sampled_from(POOL), min_size=1, max_size=4, unique=True)
        return st.builds(
            Spec,
            gap=st.integers(1, 3),
            flow=st.just(flow),
            state=st.sampled_from(states[flow]),
            tiers=st.tuples(*[st.sampled_from(POOL)] * 3),
            chain=chain.map(tuple) if flow == "inquiry" else st.just(()),
            overdue=st.booleans(),
            pending=st.booleans(),
        )

    return st.lists(st.sampled_from(sorted(states)).flatmap(one), max_size=20)


def write(engine: Engine, cases: list[Spec]) -> None:
    """The rows of ``cases`` (numbered from FIRST_ID, with gaps), replacing those of the
    example before."""
    with Session(engine.sa) as session:
        session.exec(delete(DeadlineRow).where(col(DeadlineRow.case_id) >= FIRST_ID))  # type: ignore[call-overload]
        session.exec(delete(CaseRow).where(col(CaseRow.id) >= FIRST_ID))  # type: ignore[call-overload]
        case_id = FIRST_ID
        for spec in cases:
            case_id += spec.gap
            reporter, coordinator, operator = spec.tiers
            session.add(
                CaseRow(
                    id=case_id,
                    flow=spec.flow,
                    flow_version=1,
                    title=f"case {case_id}",
                    kinds=spec.flow,
                    state=spec.state,
                    version=1,
                    reporter_id=spec.chain[0] if spec.chain else reporter,
                    coordinator_id=coordinator,
                    operator_id=operator,
                    opened_at=T0,
                    chain=",".join(spec.chain),
                    chain_at=len(spec.chain) - 1 if spec.chain else 0,
                )
            )
        session.flush()
        case_id = FIRST_ID
        for spec in cases:
            case_id += spec.gap
            rungs = [(0, T0 + timedelta(hours=1))] if spec.overdue else []
            rungs += [(1, None)] if spec.pending else []
            for rung, fired in rungs:
                session.add(
                    DeadlineRow(
                        case_id=case_id,
                        step="s",
                        rung=rung,
                        action="remind",
                        opened_at=T0,
                        deadline_at=T0,
                        due_at=T0,
                        fired_at=fired,
                    )
                )
        session.commit()
