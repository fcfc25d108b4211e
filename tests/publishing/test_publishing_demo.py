"""The demo workspace has posts waiting at each step of a two-step approval chain."""

from __future__ import annotations

from sqlalchemy import select

from allsang.authz import Actor
from allsang.db.models import Membership, Person, Workspace
from allsang.db.models.publishing import Post
from allsang.demo import DEMO_SLUG, seed_demo
from allsang.publishing import service
from allsang.runtime import Runtime


async def _actor(runtime: Runtime, email: str) -> Actor:
    async with runtime.db.read() as session:
        workspace = await session.scalar(select(Workspace).where(Workspace.slug == DEMO_SLUG))
        person = await session.scalar(select(Person).where(Person.email == email))
        assert workspace is not None and person is not None
        role = await session.scalar(
            select(Membership.role).where(Membership.person_id == person.id)
        )
        return Actor("person", email, workspace.id, role, person.id)


async def test_the_demo_posts_wait_at_both_approval_steps_and_are_seeded_once(
    runtime: Runtime,
) -> None:
    await seed_demo(runtime)
    await seed_demo(runtime)
    editor = await _actor(runtime, "ingrid@demo.allsang.test")
    owner = await _actor(runtime, "astrid@demo.allsang.test")
    async with runtime.db.read() as session:
        posts = (await session.scalars(select(Post).order_by(Post.id))).all()
        for_editor = await service.awaiting(session, editor)
        for_owner = await service.awaiting(session, owner)
    assert [p.status for p in posts] == ["in_review", "in_review", "draft"]
    assert [p.id for p in for_editor] == [posts[0].id]  # step 2 names the owner
    assert [p.id for p in for_owner] == [posts[0].id, posts[1].id]  # she outranks step 1
