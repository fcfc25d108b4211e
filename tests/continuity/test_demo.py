"""The demo workspace comes with a rota and its stream with two reconnectors, once."""

from __future__ import annotations

from sqlalchemy import func, select

from allsang.continuity import reconnect
from allsang.db.models import Workspace
from allsang.db.models.continuity import DutyShift
from allsang.demo import DEMO_SLUG, seed_demo
from allsang.runtime import Runtime


async def test_the_demo_has_a_rota_and_no_channel_at_risk_even_when_seeded_twice(
    runtime: Runtime,
) -> None:
    await seed_demo(runtime)
    await seed_demo(runtime)
    async with runtime.db.read() as session:
        shifts = await session.scalar(select(func.count()).select_from(DutyShift))
        workspace = await session.scalar(select(Workspace).where(Workspace.slug == DEMO_SLUG))
        assert workspace is not None
        coverage = await reconnect.coverage(session, workspace.id)
    assert shifts == 12
    assert coverage and not any(item.warn for item in coverage)
