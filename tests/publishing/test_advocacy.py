"""Employee advocacy: a share-ready post shared from a colleague's own account goes out once
through the delivery engine, is refused a second time or from someone else's account, and
shows in who-shared-what but not in the editorial calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from allsang.authz import Forbidden
from allsang.channels import seal_credentials
from allsang.db.models import Channel, Job
from allsang.db.models.calendar import ChannelOwner
from allsang.db.models.publishing import PostDelivery
from allsang.publishing import advocacy, calendar, engine, service
from allsang.publishing.states import InvalidPost, NotFound
from allsang.runtime import Runtime
from tests.publishing.conftest import Newsroom, create_newsroom
from tests.publishing.fake_mastodon import FakeMastodon

TEXT = "Kom till vårmarknaden på lördag!"


@pytest.fixture
def fake(httpserver: HTTPServer) -> FakeMastodon:
    return FakeMastodon(httpserver)


async def _setup(runtime: Runtime, fake: FakeMastodon) -> tuple[Newsroom, int, int]:
    """A newsroom, the viewer's own Mastodon account, and an editor's published post."""
    room = await create_newsroom(runtime, fake.url)
    async with runtime.db.write() as session:
        own = Channel(
            workspace_id=room.workspace_id,
            network="mastodon",
            name="Viewer on Mastodon",
            config={"instance": fake.url},
            credentials=seal_credentials(runtime.secrets, {"access_token": "own"}),
        )
        session.add(own)
        await session.flush()
        await advocacy.set_channel_owner(
            session, room.actor("editor"), own.id, room.people["viewer"]
        )
        post = await service.create_draft(
            session, room.actor("editor"), body=TEXT, channel_ids=[room.channel_id]
        )
        await service.schedule(
            session,
            room.actor("editor"),
            post.id,
            local_time=datetime(2030, 5, 2, 9, 0),
            timezone="Europe/Stockholm",
        )
        return room, own.id, post.id


async def test_a_colleague_shares_once_from_their_own_account(
    runtime: Runtime, fake: FakeMastodon
) -> None:
    room, own_id, post_id = await _setup(runtime, fake)
    viewer = room.actor("viewer")
    async with runtime.db.read() as session:
        assert await advocacy.feed(session, viewer) == []  # not offered yet
    async with runtime.db.write() as session:
        await advocacy.set_share_ready(session, room.actor("editor"), post_id, True)
    async with runtime.db.write() as session:
        assert [p.id for p in await advocacy.feed(session, viewer)] == [post_id]
        assert [c.id for c in await advocacy.own_channels(session, viewer)] == [own_id]
        share = await advocacy.share(session, viewer, post_id, own_id, text="Jag är där! " + TEXT)
    with pytest.raises(InvalidPost):
        async with runtime.db.write() as session:
            await advocacy.share(session, viewer, post_id, own_id)
    assert share.delivery_id is not None
    assert await engine.deliver(runtime, share.delivery_id) == "published"
    assert await engine.deliver(runtime, share.delivery_id) == "published"
    assert fake.texts() == ["Jag är där! " + TEXT]
    async with runtime.db.read() as session:
        rows = await advocacy.who_shared(session, room.actor("editor"))
        jobs = (await session.scalars(select(Job.idempotency_key))).all()
        entries = await calendar.entries(
            session,
            viewer,
            datetime.now(UTC) - timedelta(days=1),
            datetime(2031, 1, 1, tzinfo=UTC),
        )
    assert [(r.person_name, r.channel_name, r.state) for r in rows] == [
        ("Viewer", "Viewer on Mastodon", "published")
    ]
    assert sum(1 for key in jobs if key and key.startswith("advocacy:")) == 1
    # The calendar shows the planned post, not the colleague's share.
    assert [(e.ref, e.starts_at) for e in entries] == [
        (f"post-{post_id}", datetime(2030, 5, 2, 7, 0, tzinfo=UTC))
    ]


async def test_nobody_shares_from_someone_elses_account_or_an_unoffered_post(
    runtime: Runtime, fake: FakeMastodon
) -> None:
    room, own_id, post_id = await _setup(runtime, fake)
    with pytest.raises(InvalidPost):
        async with runtime.db.write() as session:
            await advocacy.share(session, room.actor("viewer"), post_id, own_id)
    async with runtime.db.write() as session:
        await advocacy.set_share_ready(session, room.actor("editor"), post_id, True)
    with pytest.raises(NotFound):
        async with runtime.db.write() as session:
            await advocacy.share(session, room.actor("contributor"), post_id, own_id)
    with pytest.raises(NotFound):
        async with runtime.db.write() as session:
            await advocacy.share(session, room.actor("viewer"), post_id, room.channel_id)
    with pytest.raises(Forbidden):
        async with runtime.db.write() as session:
            await advocacy.set_share_ready(session, room.actor("contributor"), post_id, False)
    async with runtime.db.read() as session:
        assert (await session.scalars(select(PostDelivery.channel_id))).all() == [room.channel_id]
        assert await session.get(ChannelOwner, own_id) is not None


async def test_a_draft_cannot_be_offered_for_sharing(runtime: Runtime, fake: FakeMastodon) -> None:
    room = await create_newsroom(runtime, fake.url)
    async with runtime.db.write() as session:
        post = await service.create_draft(
            session, room.actor("contributor"), body=TEXT, channel_ids=[room.channel_id]
        )
    with pytest.raises(InvalidPost):
        async with runtime.db.write() as session:
            await advocacy.set_share_ready(session, room.actor("editor"), post.id, True)


async def test_moving_a_scheduled_post_keeps_its_approval_and_moves_its_delivery(
    runtime: Runtime, fake: FakeMastodon
) -> None:
    room, _own_id, post_id = await _setup(runtime, fake)
    target = datetime(2030, 5, 6, 7, 0, tzinfo=UTC)
    async with runtime.db.write() as session:
        await calendar.move(session, room.actor("editor"), f"post-{post_id}", target)
    async with runtime.db.read() as session:
        post = await service.get_post(session, room.actor("viewer"), post_id)
        deliveries = (await session.scalars(select(PostDelivery).order_by(PostDelivery.id))).all()
    assert post.status == "scheduled" and post.approved_at is not None
    assert post.planned_local == "2030-05-06T09:00:00"
    assert [(d.state, d.due_at) for d in deliveries] == [
        ("cancelled", datetime(2030, 5, 2, 7, 0, tzinfo=UTC)),
        ("scheduled", target),
    ]
    # Someone else's post needs post.manage: a contributor cannot move the editor's post.
    with pytest.raises(Forbidden):
        async with runtime.db.write() as session:
            await calendar.move(
                session, room.actor("contributor"), f"post-{post_id}", target + timedelta(days=1)
            )
