"""The Jetstream consumer against a local WebSocket server replaying 152 recorded events."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from sqlalchemy import select

from allsang.connectors.base import RawItem, TransientError
from allsang.connectors.bluesky import BlueskyConnector
from allsang.connectors.bluesky.client import Jetstream
from allsang.db import Database
from allsang.db.models import Channel, Message, QuarantinedItem
from allsang.ingest.pipeline import ChannelRef, IngestResult, Pipeline
from tests.connectors.bluesky.conftest import JetstreamServer, connector_for

POST = "app.bsky.feed.post"


def recorded_posts(lines: list[str]) -> dict[str, dict[str, Any]]:
    """The post creates of the recording by their at:// URI."""
    posts = {}
    for line in lines:
        event = json.loads(line)
        commit = event.get("commit") or {}
        if commit.get("operation") == "create" and commit.get("collection") == POST:
            posts[f"at://{event['did']}/{POST}/{commit['rkey']}"] = event
    return posts


async def drain(
    connector: BlueskyConnector,
    pipeline: Pipeline,
    channel: ChannelRef,
    cursor: dict[str, Any],
    until_time_us: int,
) -> tuple[IngestResult, list[dict[str, Any]]]:
    """Ingest batches until the cursor reaches ``until_time_us``; return totals and cursors."""
    total, cursors = IngestResult(), []
    async with asyncio.timeout(10):
        async for batch in connector.listen(cursor):
            total.add(
                await pipeline.ingest(
                    channel, batch.items, connector.normalise, cursor=batch.cursor
                )
            )
            cursors.append(dict(batch.cursor or {}))
            if (batch.cursor or {}).get("time_us", 0) >= until_time_us:
                break
    return total, cursors


async def stored(db: Database) -> list[Message]:
    async with db.read() as session:
        return list(await session.scalars(select(Message).order_by(Message.id)))


async def saved_cursor(db: Database, channel: ChannelRef) -> dict[str, Any]:
    async with db.read() as session:
        row = await session.get(Channel, channel.id)
        assert row is not None
        return row.cursor


async def test_it_stores_the_recorded_posts_and_saves_the_newest_time_us(
    jetstream: JetstreamServer, jetstream_lines: list[str], db: Database, channel: ChannelRef
) -> None:
    connector = connector_for(jetstream_url=jetstream.url)
    total, cursors = await drain(connector, Pipeline(db), channel, {}, jetstream.last_time_us)

    posts = recorded_posts(jetstream_lines)
    messages = await stored(db)
    assert {m.external_id for m in messages} == set(posts)
    assert total.accepted == 17 and total.quarantined == 0
    assert total.ignored == 3  # a post delete, an identity and an account event
    assert jetstream.requests[0]["wantedCollections"] == [POST]
    assert "cursor" not in jetstream.requests[0]  # a new channel starts at the live tail
    times = [c["time_us"] for c in cursors]
    assert times == sorted(times) and times[-1] == jetstream.last_time_us
    assert await saved_cursor(db, channel) == {"time_us": jetstream.last_time_us}

    reply = next(m for m in messages if m.text == "My show is super boring")
    event = posts[reply.external_id]
    assert reply.kind == "reply"
    assert reply.in_reply_to == event["commit"]["record"]["reply"]["parent"]["uri"]
    assert reply.url == f"https://bsky.app/profile/{event['did']}/post/{event['commit']['rkey']}"
    assert reply.lang == "en"
    assert reply.extra["author"]["handle"] == event["did"]


async def test_a_second_run_resumes_from_the_saved_cursor_and_stores_no_duplicates(
    jetstream: JetstreamServer, db: Database, channel: ChannelRef
) -> None:
    pipeline = Pipeline(db)
    connector = connector_for(jetstream_url=jetstream.url, overlap_seconds=0.1)
    await drain(connector, pipeline, channel, {}, jetstream.last_time_us)
    again, _ = await drain(
        connector, pipeline, channel, await saved_cursor(db, channel), jetstream.last_time_us
    )

    assert again.accepted == 0
    assert again.duplicates > 0  # the overlap was sent again and dropped
    assert jetstream.requests[1]["cursor"] == [str(jetstream.last_time_us - 100_000)]
    assert len(await stored(db)) == 17


async def test_a_connection_cut_mid_stream_resumes_from_the_cursor_with_overlap(
    jetstream: JetstreamServer, db: Database, channel: ChannelRef
) -> None:
    jetstream.drop_after = 8
    connector = connector_for(jetstream_url=jetstream.url, overlap_seconds=0.1)
    total, _ = await drain(connector, Pipeline(db), channel, {}, jetstream.last_time_us)

    sent_first = jetstream._events({POST}, 0)[:8]
    cut_at = max(json.loads(line)["time_us"] for line in sent_first)
    assert len(jetstream.requests) == 2
    assert jetstream.requests[1]["cursor"] == [str(cut_at - 100_000)]
    assert total.duplicates > 0
    messages = await stored(db)
    assert len(messages) == len({m.external_id for m in messages}) == 17


async def test_malformed_frames_are_quarantined_and_the_stream_goes_on(
    jetstream: JetstreamServer, db: Database, channel: ChannelRef
) -> None:
    jetstream.extra_frames = ["{not json", b"\xff\xfe\x00 not UTF-8", '["a", "list"]']
    connector = connector_for(jetstream_url=jetstream.url)
    total, _ = await drain(connector, Pipeline(db), channel, {}, jetstream.last_time_us)

    assert total.quarantined == 3 and total.accepted == 17
    async with db.read() as session:
        reasons = list(await session.scalars(select(QuarantinedItem.reason).order_by("id")))
    assert reasons[0].startswith("frame is not valid JSON")
    assert reasons[1].startswith("frame is not valid UTF-8")
    assert reasons[2] == "expected a JSON object, got list"


async def test_the_keyword_prefilter_keeps_matching_posts_and_still_moves_the_cursor(
    jetstream: JetstreamServer, db: Database, channel: ChannelRef
) -> None:
    connector = connector_for(jetstream_url=jetstream.url, keywords=["BORING"])
    total, cursors = await drain(connector, Pipeline(db), channel, {}, jetstream.last_time_us)

    assert [m.text for m in await stored(db)] == ["My show is super boring"]
    assert total.accepted == 1
    assert cursors[-1]["time_us"] == jetstream.last_time_us


async def test_a_frame_over_the_size_limit_is_refused_then_let_through_once_to_get_past_it(
    jetstream: JetstreamServer,
) -> None:
    big = "x" * (10 * 1024 * 1024)
    jetstream.extra_frames = [big]
    connector = connector_for(jetstream_url=jetstream.url)
    with pytest.raises(TransientError, match="larger than 1048576 B"):
        async with asyncio.timeout(10):
            async for _ in connector.listen({}):
                pass

    # The coordinator retries with the same connector: the frame now arrives, as an item the
    # pipeline quarantines, and the events after it follow.
    items: list[RawItem] = []
    async with asyncio.timeout(10):
        async for batch in connector.listen({}):
            items += batch.items
            if any(isinstance(i.payload, dict) for i in items):
                break
    assert items[0].payload == big
    assert isinstance(items[-1].payload, dict)


async def test_a_frame_over_even_the_larger_limit_is_refused_every_time(
    jetstream: JetstreamServer,
) -> None:
    jetstream.extra_frames = ["x" * (3 * 1024)]
    connector = connector_for(jetstream_url=jetstream.url)
    # A small limit, so that 16 times it (2 KiB) is still too small for the frame.
    connector.jetstream = Jetstream(jetstream.url, max_frame=128)
    for refused in (128, 2048, 128):
        with pytest.raises(TransientError, match=f"larger than {refused} B"):
            async with asyncio.timeout(10):
                async for _ in connector.listen({}):
                    pass


async def test_an_unreachable_jetstream_is_a_transient_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connector = connector_for(jetstream_url=f"ws://127.0.0.1:{port}/subscribe")
    with pytest.raises(TransientError, match="cannot open Jetstream"):
        async for _ in connector.listen({}):
            pass
