"""An absent person's posts in motion and named approval steps go to the deputy, and come
back on return unless the deputy worked on them."""

from __future__ import annotations

from datetime import timedelta

from allsang.continuity import absence as absences
from allsang.db.models.continuity import Absence
from allsang.db.models.publishing import ApprovalStep, Post
from allsang.db.types import utcnow
from allsang.publishing import service
from allsang.runtime import Runtime
from tests.publishing.conftest import Newsroom


async def test_posts_and_named_steps_are_handed_over_and_given_back(
    runtime: Runtime, room: Newsroom
) -> None:
    owner, admin, editor2 = room.people["owner"], room.actor("admin"), room.people["editor2"]
    async with runtime.db.write() as session:
        await service.set_approval_chain(session, admin, None, [(None, [owner])])
        ids = []
        for _ in range(3):
            post = await service.create_draft(
                session, room.actor("contributor"), body="Hej", channel_ids=[room.channel_id]
            )
            await service.submit_for_review(session, room.actor("contributor"), post.id)
            ids.append(post.id)
        untouched = await service.create_draft(session, room.actor("contributor"), body="Utkast")
    now = utcnow()
    async with runtime.db.write() as session:
        away, outcome = await absences.create(
            session,
            admin,
            workspace_id=room.workspace_id,
            person_id=room.people["contributor"],
            deputy_id=room.people["contributor2"],
            starts_at=now,
            ends_at=now + timedelta(days=7),
        )
        owner_away, owner_outcome = await absences.create(
            session,
            admin,
            workspace_id=room.workspace_id,
            person_id=owner,
            deputy_id=editor2,
            starts_at=now,
            ends_at=now + timedelta(days=7),
        )
    assert outcome.handed.get("post") == 3
    assert owner_outcome.handed.get("approval_step") == 1
    async with runtime.db.write() as session:
        # The owner's deputy can decide the owner's step now; the contributor's deputy edits one.
        await service.approve(session, room.actor("editor2"), ids[0])
        await service.update_draft(session, room.actor("contributor2"), ids[1], title="Ny")
        draft = await session.get(Post, untouched.id)
        assert draft is not None and draft.author_id == room.people["contributor"]
    async with runtime.db.write() as session:
        for absence_id in (away.id, owner_away.id):
            row = await session.get(Absence, absence_id)
            assert row is not None
            result = await absences.end(session, row, admin)
            if absence_id == away.id:
                assert result.returned.get("post") == 2 and result.kept.get("post") == 1
            else:
                assert result.returned.get("approval_step") == 1
    async with runtime.db.read() as session:
        authors = [(await session.get(Post, i)).author_id for i in ids]  # type: ignore[union-attr]
        (step,) = (await session.execute(ApprovalStep.__table__.select())).all()
    contributor, deputy = room.people["contributor"], room.people["contributor2"]
    assert authors == [contributor, deputy, contributor]
    assert step.person_ids == [owner]
