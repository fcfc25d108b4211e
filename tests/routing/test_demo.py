"""The demo workspace routes its stream: rules, customer service's hours and SLA targets, once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from allsang.db.models import Department, Workspace
from allsang.db.models.routing import RoutingRule, SlaTarget
from allsang.demo import DEMO_SLUG, seed_demo
from allsang.routing.hours import hours_for_department
from allsang.runtime import Runtime


async def test_the_demo_has_rules_hours_and_targets_even_when_seeded_twice(
    runtime: Runtime,
) -> None:
    await seed_demo(runtime)
    await seed_demo(runtime)
    async with runtime.db.read() as session:
        workspace = await session.scalar(select(Workspace).where(Workspace.slug == DEMO_SLUG))
        assert workspace is not None
        rules = list(
            await session.scalars(
                select(RoutingRule.name)
                .where(RoutingRule.workspace_id == workspace.id)
                .order_by(RoutingRule.position)
            )
        )
        targets = await session.scalar(select(func.count()).select_from(SlaTarget))
        service = await session.scalar(
            select(Department.id).where(Department.name == "Customer service")
        )
        hours = await hours_for_department(session, service)
    assert rules[0] == "Press requests" and rules[-1] == "Everything else" and len(rules) == 5
    assert targets == 3
    assert hours.is_open(datetime(2026, 12, 7, 10, tzinfo=UTC))  # a Monday
    assert not hours.is_open(datetime(2026, 12, 24, 10, tzinfo=UTC))  # Christmas Eve
