"""Bus factor: who took part in the last 30 days, and one alarm per condition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from allsang.continuity import busfactor
from allsang.continuity.service import check_bus_factor
from allsang.db.models import Alert, Channel, Conversation, Job, Message, Workspace
from allsang.db.models.publishing import Post, PostDelivery
from allsang.runtime import Runtime
from tests.continuity.conftest import Team

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


async def setup(runtime: Runtime, team: Team) -> tuple[int, int]:
    """A channel of the department with one conversation; returns their ids."""
    async with runtime.db.write() as session:
        channel = Channel(
            workspace_id=team.workspace.id,
            network="mastodon",
            name="Acme",
            department_id=team.department.id,
            created_at=NOW - timedelta(days=60),
        )
        session.add(channel)
        await session.flush()
        conversation = Conversation(workspace_id=team.workspace.id, channel_id=channel.id)
        session.add(conversation)
        await session.flush()
        return channel.id, conversation.id


async def write(
    runtime: Runtime, team: Team, conversation_id: int, channel_id: int | None, **fields: object
) -> None:
    async with runtime.db.write() as session:
        session.add(
            Message(
                workspace_id=team.workspace.id,
                conversation_id=conversation_id,
                channel_id=channel_id,
                text="…",
                **fields,
            )
        )


async def alerts(runtime: Runtime) -> list[str]:
    async with runtime.db.read() as session:
        return sorted(a.data["condition"] for a in await session.scalars(select(Alert)))


async def test_participation_counts_replies_and_notes_of_the_last_30_days(
    runtime: Runtime, team: Team
) -> None:
    channel_id, conversation_id = await setup(runtime, team)
    anna, bo, cia = team.id("anna"), team.id("bo"), team.id("cia")
    for author, direction, days_ago in (
        (anna, "outbound", 1),
        (anna, "outbound", 2),
        (bo, "note", 3),
        (cia, "outbound", 31),  # too long ago
        (None, "inbound", 1),  # the contact, not a person
    ):
        await write(
            runtime,
            team,
            conversation_id,
            None if direction == "note" else channel_id,
            author_person_id=author,
            direction=direction,
            created_at=NOW - timedelta(days=days_ago),
        )
    async with runtime.db.read() as session:
        workspace = await session.get(Workspace, team.workspace.id)
        assert workspace is not None
        channels, departments = await busfactor.participation(session, workspace, NOW)
    assert channels[0].people == [("Anna", 2), ("Bo", 1)]
    assert departments[0].people == [("Anna", 2), ("Bo", 1)]
    assert not channels[0].few and not channels[0].silent
    assert channels[0].last_activity == NOW - timedelta(days=1)


async def test_the_alarm_is_raised_once_per_condition_and_again_only_after_it_cleared(
    runtime: Runtime, team: Team
) -> None:
    channel_id, conversation_id = await setup(runtime, team)
    await write(
        runtime,
        team,
        conversation_id,
        channel_id,
        author_person_id=team.id("anna"),
        direction="outbound",
        created_at=NOW - timedelta(days=10),
    )
    first = await check_bus_factor(runtime, NOW)
    expected = [f"channel:{channel_id}:few", f"channel:{channel_id}:silent"]
    assert sorted(key.split("/", 1)[1] for key in first) == sorted(
        [*expected, f"department:{team.department.id}:few"]
    )
    assert await check_bus_factor(runtime, NOW + timedelta(hours=1)) == []
    assert await check_bus_factor(runtime, NOW + timedelta(days=1)) == []
    async with runtime.db.read() as session:
        queued = list(await session.scalars(select(Job.kind).where(Job.kind == "listening.alert")))
    assert len(queued) == 3  # delivered like every alert

    # Bo answers: the channel is neither silent nor down to one person; then silence returns.
    await write(
        runtime,
        team,
        conversation_id,
        channel_id,
        author_person_id=team.id("bo"),
        direction="outbound",
        created_at=NOW + timedelta(days=1),
    )
    assert await check_bus_factor(runtime, NOW + timedelta(days=1, hours=1)) == []
    again = await check_bus_factor(runtime, NOW + timedelta(days=9))
    assert [key.split("/", 1)[1] for key in again] == [f"channel:{channel_id}:silent"]
    assert len(await alerts(runtime)) == 4


async def test_silence_follows_the_workspace_setting_and_skips_paused_channels(
    runtime: Runtime, team: Team
) -> None:
    channel_id, conversation_id = await setup(runtime, team)
    await write(
        runtime,
        team,
        conversation_id,
        channel_id,
        direction="inbound",
        created_at=NOW - timedelta(days=3),
    )
    async with runtime.db.write() as session:
        workspace = await session.get(Workspace, team.workspace.id)
        assert workspace is not None
        assert busfactor.silent_days(workspace) == busfactor.DEFAULT_SILENT_DAYS
        busfactor.store_silent_days(workspace, 2)
    async with runtime.db.read() as session:
        workspace = await session.get(Workspace, team.workspace.id)
        assert workspace is not None
        (channel,), _ = await busfactor.participation(session, workspace, NOW)
    assert busfactor.silent_days(workspace) == 2 and channel.silent
    async with runtime.db.write() as session:
        row = await session.get(Channel, channel_id)
        assert row is not None
        row.state = "paused"
    async with runtime.db.read() as session:
        (channel,), _ = await busfactor.participation(session, workspace, NOW)
    assert not channel.silent


async def test_posts_published_through_allsang_count_for_their_author_and_break_the_silence(
    runtime: Runtime, team: Team
) -> None:
    channel_id, _conversation_id = await setup(runtime, team)
    async with runtime.db.write() as session:
        for name, days_ago in (("cia", 2), ("dan", 40)):
            post = Post(workspace_id=team.workspace.id, author_id=team.id(name), status="published")
            session.add(post)
            await session.flush()
            session.add(
                PostDelivery(
                    workspace_id=team.workspace.id,
                    post_id=post.id,
                    channel_id=channel_id,
                    due_at=NOW - timedelta(days=days_ago),
                    idempotency_key=f"test:{post.id}",
                    state="published",
                    published_at=NOW - timedelta(days=days_ago),
                )
            )
    async with runtime.db.read() as session:
        workspace = await session.get(Workspace, team.workspace.id)
        assert workspace is not None
        (channel,), (department,) = await busfactor.participation(session, workspace, NOW)
    assert channel.people == [("Cia", 1)]
    assert department.people == [("Cia", 1)]  # through the channel's department
    assert channel.last_activity == NOW - timedelta(days=2) and not channel.silent
