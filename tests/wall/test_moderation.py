"""Sources, rules and the manual queue write the right wall items and events."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.models import ListeningQuery, Wall, WallItem
from allsang.ingest.pipeline import Pipeline
from allsang.live import InProcessBroadcast
from allsang.wall import service
from allsang.wall.rules import Rule
from allsang.wall.service import Source
from tests.wall.helpers import log, make_channel, make_wall, message_payload, post


async def states(db: Database, wall_id: int) -> dict[int, tuple[str, str]]:
    async with db.read() as session:
        rows = await session.scalars(select(WallItem).where(WallItem.wall_id == wall_id))
        return {r.message_id: (r.state, r.reason) for r in rows}


async def test_automatic_moderation_adds_matching_posts_and_rejects_blocked_ones(
    db: Database,
) -> None:
    channel = await make_channel(db)
    wall_id = await make_wall(db, channel, rules=[Rule("blocklist", {"words": ["fan"]})])
    good = await post(db, channel, "Fantastiskt! #Allsang")
    bad = await post(db, channel, "Fan vad kallt #allsang", handle="bo")
    await post(db, channel, "No tag here")
    assert await service.catch_up(db, wall_id) == 1
    assert await log(db, wall_id) == [(1, "add", good)]
    assert await states(db, wall_id) == {
        good: ("approved", ""),
        bad: ("rejected", "blocklist: fan"),
    }
    assert await service.catch_up(db, wall_id) == 0


async def test_manual_moderation_queues_posts_until_approved(db: Database) -> None:
    channel = await make_channel(db)
    wall_id = await make_wall(db, channel, moderation="manual")
    first = await post(db, channel, "#allsang hello")
    await service.catch_up(db, wall_id)
    assert await log(db, wall_id) == []
    async with db.write() as session:
        wall = await session.get(Wall, wall_id)
        assert wall is not None
        await service.approve(session, wall, first, None)
        await service.approve(session, wall, first, None)
    assert await log(db, wall_id) == [(1, "add", first)]


async def test_rejecting_and_pinning_produce_remove_and_pin_events(db: Database) -> None:
    channel = await make_channel(db)
    wall_id = await make_wall(db, channel)
    one = await post(db, channel, "#allsang one")
    two = await post(db, channel, "#allsang two", handle="bo")
    await service.catch_up(db, wall_id)
    async with db.write() as session:
        wall = await session.get(Wall, wall_id)
        assert wall is not None
        await service.pin(session, wall, two, None)
        await service.reject(session, wall, one, None)
        await service.reject(session, wall, one, None)
    assert await log(db, wall_id) == [
        (1, "add", one),
        (2, "add", two),
        (3, "pin", two),
        (4, "remove", one),
    ]


async def test_banning_an_author_pulls_their_posts_and_rejects_future_ones(db: Database) -> None:
    channel = await make_channel(db)
    wall_id = await make_wall(db, channel)
    troll_one = await post(db, channel, "#allsang first", handle="troll")
    kind = await post(db, channel, "#allsang nice", handle="anna")
    troll_two = await post(db, channel, "#allsang second", handle="troll")
    await service.catch_up(db, wall_id)
    async with db.write() as session:
        wall = await session.get(Wall, wall_id)
        assert wall is not None
        assert await service.ban_author(session, wall, troll_one, None) is not None
    later = await post(db, channel, "#allsang I am back", handle="troll")
    await service.catch_up(db, wall_id)
    events = await log(db, wall_id)
    assert events[3:] == [(4, "remove", troll_one), (5, "remove", troll_two)]
    assert (await states(db, wall_id))[later] == ("rejected", "banned_author")
    assert (await states(db, wall_id))[kind] == ("approved", "")


async def test_channel_query_and_own_sources_select_their_messages(db: Database) -> None:
    channel = await make_channel(db)
    other = await make_channel(db, "other")
    async with db.write() as session:
        query = ListeningQuery(workspace_id=channel.workspace_id, name="q", query="allsång")
        session.add(query)
        await session.flush()
        query_id = query.id
    by_query = await make_wall(db, channel, sources=[Source("query", query_id=query_id)])
    by_channel = await make_wall(db, other, sources=[Source("channel", channel_id=other.id)])
    own = await make_wall(db, channel, sources=[Source("own")])
    hit = await post(db, channel, "Allsång på Skansen")
    await post(db, channel, "Something else")
    mine = await post(db, channel, "From us", direction="outbound")
    elsewhere = await post(db, other, "In the other workspace")
    for wall_id in (by_query, by_channel, own):
        await service.catch_up(db, wall_id)
    assert [e[2] for e in await log(db, by_query)] == [hit]
    assert [e[2] for e in await log(db, by_channel)] == [elsewhere]
    assert [e[2] for e in await log(db, own)] == [mine]


async def test_a_display_token_works_until_rotated_or_revoked(db: Database) -> None:
    channel = await make_channel(db)
    wall_id = await make_wall(db, channel)
    async with db.write() as session:
        wall = await session.get(Wall, wall_id)
        assert wall is not None
        first = await service.rotate_token(session, wall)
    async with db.read() as session:
        assert await service.resolve_display(session, wall_id, first) is not None
        assert await service.resolve_display(session, wall_id + 1, first) is None
        assert await service.resolve_display(session, wall_id, first + "x") is None
    async with db.write() as session:
        wall = await session.get(Wall, wall_id)
        assert wall is not None
        second = await service.rotate_token(session, wall)
    async with db.read() as session:
        assert await service.resolve_display(session, wall_id, first) is None
        assert await service.resolve_display(session, wall_id, second) is not None
    async with db.write() as session:
        wall = await session.get(Wall, wall_id)
        assert wall is not None
        await service.revoke_token(session, wall)
    async with db.read() as session:
        assert await service.resolve_display(session, wall_id, second) is None


async def test_a_new_wall_starts_from_the_newest_messages(db: Database) -> None:
    channel = await make_channel(db)
    ids = [await post(db, channel, f"#allsang {n}") for n in range(service.BACKFILL + 3)]
    wall_id = await make_wall(db, channel)
    await service.catch_up(db, wall_id)
    shown = [e[2] for e in await log(db, wall_id)]
    assert shown == ids[3:]


async def test_the_commit_hook_puts_new_posts_on_the_wall_and_wakes_its_screens(
    db: Database,
) -> None:
    channel = await make_channel(db)
    wall_id = await make_wall(db, channel)
    broadcast = InProcessBroadcast()
    async with broadcast.subscribe(service.wall_topic(wall_id)) as hints:
        result = await Pipeline(db, on_commit=[service.commit_hook(db, broadcast)]).ingest(
            channel, [RawItem(message_payload("Live #allsang"))]
        )
        assert await asyncio.wait_for(anext(hints), 1) == {"wall": wall_id}
    assert await log(db, wall_id) == [(1, "add", result.message_ids[0])]
