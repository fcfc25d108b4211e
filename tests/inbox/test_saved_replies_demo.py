"""The demo workspace has saved replies to insert, once however often it is seeded."""

from __future__ import annotations

from sqlalchemy import select

from allsang.db.models import Department, Workspace
from allsang.db.models.inbox_workflow import SavedReply
from allsang.demo import DEMO_SLUG, seed_demo
from allsang.inbox import saved_replies
from allsang.runtime import Runtime


async def test_the_demo_has_saved_replies_even_when_seeded_twice(runtime: Runtime) -> None:
    await seed_demo(runtime)
    await seed_demo(runtime)
    async with runtime.db.read() as session:
        workspace = await session.scalar(select(Workspace).where(Workspace.slug == DEMO_SLUG))
        assert workspace is not None
        service = await session.scalar(
            select(Department.id).where(Department.name == "Customer service")
        )
        everywhere = await saved_replies.available(session, workspace.id)
        in_service = await saved_replies.available(session, workspace.id, service)
        count = len(list(await session.scalars(select(SavedReply.id))))
    # (Sorted here: the database's collation decides where "Ö" goes.)
    assert sorted(s.name for s in everywhere) == ["Tack", "Vi återkommer"]
    assert sorted(s.name for s in in_service) == ["Tack", "Vi återkommer", "Öppettider"]
    assert count == 3
