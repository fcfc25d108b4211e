"""The demo workspace has an editorial calendar, seeded once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from allsang.authz import Actor
from allsang.db.models import Workspace
from allsang.db.models.calendar import CalendarItem
from allsang.db.types import utcnow
from allsang.demo import DEMO_SLUG, seed_demo
from allsang.publishing import calendar
from allsang.runtime import Runtime


async def test_the_demo_calendar_is_seeded_once_around_today(runtime: Runtime) -> None:
    await seed_demo(runtime)
    await seed_demo(runtime)
    async with runtime.db.read() as session:
        workspace = await session.scalar(select(Workspace).where(Workspace.slug == DEMO_SLUG))
        assert workspace is not None
        count = await session.scalar(select(func.count()).select_from(CalendarItem))
        viewer = Actor(kind="system", label="test", workspace_id=workspace.id)
        now = utcnow()
        found = await calendar.entries(
            session, viewer, now - timedelta(days=5), now + timedelta(days=14)
        )
    assert count == 5
    assert {e.kind for e in found} >= {"press_release", "newsletter", "event", "internal_news"}
