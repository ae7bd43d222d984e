"""How fast is contact routing? Plans per second, beside the calendar lookup alone.

    python bench/route.py [--n N] [--seed S]

Random moments (2017-2027, naive, Japan time, UTC and other offsets) and random
sender/recipient pairs of sample organisations. Everything runs once to warm up
(the calendar computes each year once), then both loops are timed over the same
inputs. The floor is ``is_working_day`` on the same moments: the part of a plan
that no rule can avoid. Aim: under 20 µs a plan.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone

from irflow.clock import JST
from irflow.engine.directory import Organisation, OrgType, Tier
from irflow.engine.routing import bundled_routing, plan_contact

AIM_US = 20.0

OFFSETS = [None, JST, UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=1))]
FIRST = datetime(2017, 1, 1)
SPAN_SECONDS = int((datetime(2028, 1, 1) - FIRST).total_seconds())


def sample_organisations() -> list[Organisation]:
    """Sample data only: made-up ids and visibly fake phone numbers."""
    kinds = [
        (OrgType.OPERATOR, Tier.OPERATOR),
        (OrgType.JLIS, Tier.COORDINATOR),
        (OrgType.PREFECTURE, Tier.COORDINATOR),
        (OrgType.MUNICIPALITY, Tier.REPORTER),
        (OrgType.MINISTRY, Tier.EXTERNAL),
    ]
    return [
        Organisation(
            id=f"sample-{i}",
            name=f"サンプル機関{i}",
            type=kind,
            tier=tier,
            daytime_phone=f"000-0000-{i:04d}",
            emergency_phone=f"000-0001-{i:04d}",
        )
        for i, (kind, tier) in enumerate(kinds * 4)
    ]


Case = tuple[Organisation, Organisation | None, str, datetime]


def random_cases(n: int, rng: random.Random) -> list[Case]:
    orgs = sample_organisations()
    senders = [o for o in orgs if o.type is not OrgType.OPERATOR]
    recipients: list[Organisation | None] = [None, *orgs]
    cases: list[Case] = []
    while len(cases) < n:
        sender, recipient = rng.choice(senders), rng.choice(recipients)
        if recipient is sender:
            continue
        moment = FIRST + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        offset = rng.choice(OFFSETS)
        at = moment if offset is None else moment.replace(tzinfo=offset)
        cases.append((sender, recipient, rng.choice(("incident", "normal")), at))
    return cases


def timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="plans to time (default 200000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)

    rules = bundled_routing()
    calendar = rules.calendar()
    cases = random_cases(args.n, random.Random(args.seed))
    moments = [case[3] for case in cases]

    def plans() -> None:
        for sender, recipient, situation, at in cases:
            plan_contact(rules, calendar, sender, recipient, situation, at)

    def floor() -> None:
        for at in moments:
            calendar.is_working_day(at)

    # Warm-up: every year of the range is computed once, outside the timing.
    plans()
    floor()
    plan_s, floor_s = min(timed(plans) for _ in range(3)), min(timed(floor) for _ in range(3))

    n = len(cases)
    per_plan_us = plan_s / n * 1e6
    print(f"moments and pairs: {n} (best of 3, after warm-up)")
    print(f"plans:  {n / plan_s:12,.0f} per second   {per_plan_us:6.2f} µs a plan")
    print(f"floor:  {n / floor_s:12,.0f} per second   {floor_s / n * 1e6:6.2f} µs a lookup")
    print(f"ratio:  {plan_s / floor_s:.1f}x the calendar lookup alone")
    verdict = "within" if per_plan_us < AIM_US else "OVER"
    print(f"aim:    < {AIM_US:.0f} µs a plan: {verdict}")


if __name__ == "__main__":
    main()
