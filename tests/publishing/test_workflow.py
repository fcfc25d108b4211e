"""The publishing workflow through the service: drafts, approval chains, scheduling,
cancelling, resolving deliveries — each change authorised and audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from allsang.authz import Actor, Forbidden
from allsang.db.models import AuditEvent, Channel, Job, Workspace
from allsang.db.models.publishing import PostDelivery
from allsang.publishing import service
from allsang.publishing.service import (
    ApprovalRequired,
    IllegalTransition,
    InvalidPost,
    NotApprover,
    NotFound,
    PostFilter,
)
from allsang.publishing.timing import NonexistentLocalTime
from allsang.runtime import Runtime
from tests.publishing.conftest import Newsroom

NOW = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 24, 9, 30)  # local, Stockholm


async def _draft(runtime: Runtime, room: Newsroom, who: str = "contributor") -> int:
    async with runtime.db.write() as session:
        post = await service.create_draft(
            session,
            room.actor(who),
            body="Vi öppnar nya biblioteket på lördag!",
            channel_ids=[room.channel_id],
            department_id=room.department_id,
        )
        return post.id


async def _status(runtime: Runtime, room: Newsroom, post_id: int) -> str:
    async with runtime.db.read() as session:
        return (await service.get_post(session, room.actor("viewer"), post_id)).status


async def _audit(runtime: Runtime, post_id: int) -> list[str]:
    async with runtime.db.read() as session:
        rows = await session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.resource_type == "post", AuditEvent.resource_id == str(post_id))
            .order_by(AuditEvent.id)
        )
        return list(rows.all())


async def test_a_contributor_cannot_schedule_until_an_editor_approves(
    runtime: Runtime, room: Newsroom
) -> None:
    post_id = await _draft(runtime, room)
    contributor = room.actor("contributor")
    async with runtime.db.write() as session:
        with pytest.raises(ApprovalRequired):
            await service.schedule(session, contributor, post_id, local_time=LATER, now=NOW)
    async with runtime.db.write() as session:
        await service.submit_for_review(session, contributor, post_id)
    async with runtime.db.write() as session:
        with pytest.raises(ApprovalRequired):
            await service.publish_now(session, contributor, post_id, now=NOW)
    async with runtime.db.write() as session:
        with pytest.raises(NotApprover):
            await service.approve(session, room.actor("contributor2"), post_id)
    async with runtime.db.write() as session:
        await service.approve(session, room.actor("editor"), post_id, "Fint!")
    async with runtime.db.write() as session:
        post = await service.schedule(session, contributor, post_id, local_time=LATER, now=NOW)
        assert post.scheduled_at == datetime(2026, 3, 24, 8, 30, tzinfo=UTC)
        assert post.timezone == "Europe/Stockholm"
        assert post.planned_local == "2026-03-24T09:30:00"
    async with runtime.db.read() as session:
        (delivery,) = (await session.scalars(select(PostDelivery))).all()
        job = await session.scalar(select(Job).where(Job.kind == "publishing.deliver"))
    assert delivery.state == "scheduled" and delivery.text.startswith("Vi öppnar")
    assert job is not None and job.payload == {"delivery_id": delivery.id}
    assert job.run_at == delivery.due_at
    assert await _audit(runtime, post_id) == [
        "post.create",
        "post.in_review",
        "post.approve_step",
        "post.approved",
        "post.scheduled",
    ]


async def test_nobody_approves_their_own_post_and_illegal_moves_raise(
    runtime: Runtime, room: Newsroom
) -> None:
    async with runtime.db.write() as session:
        await service.set_approval_chain(
            session, room.actor("admin"), None, [("editor", [])], editors_exempt=False
        )
    post_id = await _draft(runtime, room, "editor")
    async with runtime.db.write() as session:
        with pytest.raises(IllegalTransition):
            await service.approve(session, room.actor("editor2"), post_id)
    async with runtime.db.write() as session:
        with pytest.raises(ApprovalRequired):
            await service.schedule(
                session, room.actor("editor"), post_id, local_time=LATER, now=NOW
            )
    async with runtime.db.write() as session:
        await service.submit_for_review(session, room.actor("editor"), post_id)
    async with runtime.db.write() as session:
        with pytest.raises(NotApprover):
            await service.approve(session, room.actor("editor"), post_id)
    async with runtime.db.write() as session:
        with pytest.raises(IllegalTransition):
            await service.submit_for_review(session, room.actor("editor"), post_id)
    async with runtime.db.write() as session:
        await service.approve(session, room.actor("editor2"), post_id)
    assert await _status(runtime, room, post_id) == "approved"


async def test_a_two_step_chain_with_named_people_and_a_rejection(
    runtime: Runtime, room: Newsroom
) -> None:
    async with runtime.db.write() as session:
        await service.set_approval_chain(
            session,
            room.actor("admin"),
            room.department_id,
            [("editor", []), (None, [room.people["owner"]])],
            name="Press office",
        )
    post_id = await _draft(runtime, room)
    async with runtime.db.write() as session:
        await service.submit_for_review(session, room.actor("contributor"), post_id)
    async with runtime.db.write() as session:
        await service.approve(session, room.actor("editor"), post_id)
    assert await _status(runtime, room, post_id) == "in_review"
    async with runtime.db.read() as session:
        waiting_admin = await service.awaiting(session, room.actor("admin"))
        waiting_owner = await service.awaiting(session, room.actor("owner"))
    assert waiting_admin == [] and [p.id for p in waiting_owner] == [post_id]
    async with runtime.db.write() as session:
        with pytest.raises(NotApprover):  # an admin outranks, but step 2 names the owner
            await service.approve(session, room.actor("admin"), post_id)
    async with runtime.db.write() as session:
        with pytest.raises(InvalidPost):
            await service.reject(session, room.actor("owner"), post_id, "  ")
    async with runtime.db.write() as session:
        await service.reject(session, room.actor("owner"), post_id, "Vänta på pressmeddelandet")
    assert await _status(runtime, room, post_id) == "draft"
    async with runtime.db.read() as session:
        decisions = await service.approvals(session, room.actor("viewer"), post_id)
    assert [(d.position, d.decision) for d in decisions] == [(0, "approved"), (1, "rejected")]
    assert decisions[1].note == "Vänta på pressmeddelandet"


async def test_an_edit_by_a_contributor_sends_an_approved_post_back_to_draft(
    runtime: Runtime, room: Newsroom
) -> None:
    post_id = await _draft(runtime, room)
    async with runtime.db.write() as session:
        await service.submit_for_review(session, room.actor("contributor"), post_id)
        await service.approve(session, room.actor("editor"), post_id)
    async with runtime.db.write() as session:
        await service.update_draft(session, room.actor("editor"), post_id, title="Bibliotek")
    assert await _status(runtime, room, post_id) == "approved"  # editors are exempt
    async with runtime.db.write() as session:
        await service.update_draft(session, room.actor("contributor"), post_id, body="Ändrad")
    assert await _status(runtime, room, post_id) == "draft"
    async with runtime.db.write() as session:
        with pytest.raises(Forbidden):
            await service.update_draft(session, room.actor("contributor2"), post_id, body="x")
        with pytest.raises(Forbidden):
            await service.create_draft(session, room.actor("viewer"), body="x")


async def test_an_editor_schedules_their_own_draft_and_can_cancel_it(
    runtime: Runtime, room: Newsroom
) -> None:
    post_id = await _draft(runtime, room, "editor")
    async with runtime.db.write() as session:
        with pytest.raises(NonexistentLocalTime):
            await service.schedule(
                session,
                room.actor("editor"),
                post_id,
                local_time=datetime(2026, 3, 29, 2, 30),
                now=NOW,
            )
    async with runtime.db.write() as session:
        post = await service.schedule(
            session,
            room.actor("editor"),
            post_id,
            local_time=datetime(2026, 3, 29, 2, 30),
            on_gap="later",
            now=NOW,
        )
        assert post.scheduled_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    async with runtime.db.write() as session:
        with pytest.raises(IllegalTransition):
            await service.update_draft(session, room.actor("editor"), post_id, body="x")
    async with runtime.db.write() as session:
        await service.cancel(session, room.actor("editor"), post_id)
    async with runtime.db.read() as session:
        states = [d.state for d in (await session.scalars(select(PostDelivery))).all()]
    assert states == ["cancelled"]
    assert await _status(runtime, room, post_id) == "approved"
    assert (await _audit(runtime, post_id))[-3:] == [
        "post.approved",
        "post.scheduled",
        "post.approved",
    ]


async def test_a_time_in_the_past_and_a_post_without_channels_are_refused(
    runtime: Runtime, room: Newsroom
) -> None:
    post_id = await _draft(runtime, room, "editor")
    async with runtime.db.write() as session:
        with pytest.raises(InvalidPost) as past:
            await service.schedule(
                session, room.actor("editor"), post_id, local_time=datetime(2026, 3, 1, 9), now=NOW
            )
    assert past.value.code == "past"
    async with runtime.db.write() as session:
        empty = await service.create_draft(session, room.actor("editor"), body="Ingen kanal")
    async with runtime.db.write() as session:
        with pytest.raises(InvalidPost) as no_channel:
            await service.schedule(
                session, room.actor("editor"), empty.id, local_time=LATER, now=NOW
            )
    assert no_channel.value.code == "no_channel"


async def test_the_next_free_queue_slot_skips_taken_slots(runtime: Runtime, room: Newsroom) -> None:
    async with runtime.db.write() as session:
        with pytest.raises(Forbidden):
            await service.set_queue_slots(
                session, room.actor("contributor"), room.channel_id, [(0, 540)], "Europe/Oslo"
            )
        await service.set_queue_slots(
            session, room.actor("editor"), room.channel_id, [(0, 540), (2, 900)], "Europe/Oslo"
        )
    first, second, third = [await _draft(runtime, room, "editor") for _ in range(3)]
    times = []
    for post_id in (first, second, third):
        async with runtime.db.write() as session:
            post = await service.schedule(
                session, room.actor("editor"), post_id, next_free_slot=True, now=NOW
            )
            times.append(post.scheduled_at)
    # Friday 20 March 2026: Monday 23 09:00, Wednesday 25 15:00, Monday 30 09:00 (summer time)
    assert times == [
        datetime(2026, 3, 23, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 25, 14, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 7, 0, tzinfo=UTC),
    ]


async def test_a_recurring_post_gets_one_delivery_per_occurrence_at_the_same_local_time(
    runtime: Runtime, room: Newsroom
) -> None:
    post_id = await _draft(runtime, room, "editor")
    async with runtime.db.write() as session:
        await service.schedule(
            session,
            room.actor("editor"),
            post_id,
            local_time=datetime(2026, 3, 23, 9, 0),
            recurrence="FREQ=WEEKLY;BYDAY=MO",
            now=NOW,
        )
    async with runtime.db.read() as session:
        dues = [d.due_at for d in await service.deliveries(session, room.actor("viewer"), post_id)]
        jobs = (await session.scalars(select(Job).where(Job.kind == "publishing.deliver"))).all()
    assert dues[:3] == [
        datetime(2026, 3, 23, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 7, 0, tzinfo=UTC),
        datetime(2026, 4, 6, 7, 0, tzinfo=UTC),
    ]
    assert all(d < NOW + service.HORIZON for d in dues) and len(jobs) == len(dues)
    async with runtime.db.write() as session:
        added = await service.extend_recurrences(session, now=NOW + timedelta(days=14))
    assert added == 2


async def test_comments_filters_and_resolving_an_unknown_outcome(
    runtime: Runtime, room: Newsroom
) -> None:
    post_id = await _draft(runtime, room)
    async with runtime.db.write() as session:
        await service.comment(session, room.actor("editor"), post_id, "Lägg till en bild?")
        await service.submit_for_review(session, room.actor("contributor"), post_id)
        await service.approve(session, room.actor("editor"), post_id)
        await service.schedule(
            session, room.actor("contributor"), post_id, local_time=LATER, now=NOW
        )
    async with runtime.db.read() as session:
        notes = await service.comments(session, room.actor("viewer"), post_id)
        in_march = await service.list_posts(
            session,
            room.actor("viewer"),
            PostFilter(
                start=datetime(2026, 3, 1, tzinfo=UTC), end=datetime(2026, 4, 1, tzinfo=UTC)
            ),
        )
        by_channel = await service.list_posts(
            session,
            room.actor("viewer"),
            PostFilter(channel_id=room.channel_id, statuses=["draft"]),
        )
        (delivery,) = (await session.scalars(select(PostDelivery))).all()
    assert [n.body for n in notes] == ["Lägg till en bild?"]
    assert [p.id for p in in_march] == [post_id] and by_channel == []
    async with runtime.db.write() as session:
        with pytest.raises(IllegalTransition):
            await service.mark_published(session, room.actor("editor"), delivery.id, url="x")
        row = await session.get(PostDelivery, delivery.id)
        assert row is not None
        row.state = "outcome_unknown"
        row.unknown_reason = "test"
    async with runtime.db.write() as session:
        with pytest.raises(Forbidden):
            await service.retry_delivery(session, room.actor("contributor"), delivery.id)
        await service.mark_published(
            session, room.actor("editor"), delivery.id, url="https://fake.example/@acme/1"
        )
    assert await _status(runtime, room, post_id) == "published"


async def test_publishing_now_works_in_the_repeated_autumn_hour(
    runtime: Runtime, room: Newsroom
) -> None:
    second_0230 = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, the second time
    post_id = await _draft(runtime, room, "editor")
    async with runtime.db.write() as session:
        post = await service.publish_now(session, room.actor("editor"), post_id, now=second_0230)
        assert post.scheduled_at == second_0230
        assert post.planned_local == "2026-10-25T02:30:00"


async def test_another_workspace_sees_and_touches_nothing(runtime: Runtime, room: Newsroom) -> None:
    post_id = await _draft(runtime, room)
    async with runtime.db.write() as session:
        await service.submit_for_review(session, room.actor("contributor"), post_id)
        other = Workspace(slug="other", name="Other")
        session.add(other)
        await session.flush()
    stranger = Actor(
        kind="person",
        label="stranger",
        workspace_id=other.id,
        role="owner",
        person_id=room.people["owner"],
    )
    async with runtime.db.write() as session:
        with pytest.raises(NotFound):
            await service.get_post(session, stranger, post_id)
        with pytest.raises(NotFound):
            await service.approve(session, stranger, post_id)
        assert await service.list_posts(session, stranger) == []
        with pytest.raises(NotFound):
            await service.create_draft(session, stranger, body="x", channel_ids=[room.channel_id])


async def test_a_channel_that_cannot_publish_is_refused_when_scheduling(
    runtime: Runtime, room: Newsroom
) -> None:
    async with runtime.db.write() as session:
        replay = Channel(workspace_id=room.workspace_id, network="replay", name="Replay")
        session.add(replay)
        await session.flush()
        post = await service.create_draft(
            session, room.actor("editor"), body="Hej", channel_ids=[room.channel_id, replay.id]
        )
    async with runtime.db.write() as session:
        with pytest.raises(InvalidPost) as refused:
            await service.schedule(
                session, room.actor("editor"), post.id, local_time=LATER, now=NOW
            )
    assert refused.value.code == "channel" and "replay" in str(refused.value)


async def test_a_text_too_long_for_its_network_is_refused_when_scheduling(
    runtime: Runtime, room: Newsroom
) -> None:
    async with runtime.db.write() as session:
        post = await service.create_draft(
            session,
            room.actor("editor"),
            body="kort",
            variants={room.channel_id: "å" * 501},
        )
    async with runtime.db.write() as session:
        with pytest.raises(InvalidPost) as refused:
            await service.schedule(
                session, room.actor("editor"), post.id, local_time=LATER, now=NOW
            )
    assert refused.value.code == "too_long" and "501" in str(refused.value)
