from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from sqlalchemy import select, update
from werkzeug import Request, Response

from allsang.connectors.base import ChannelContext
from allsang.connectors.rss import RssConnector
from allsang.db import Database
from allsang.db.models import Channel, Message, Workspace
from allsang.ingest.pipeline import ChannelRef, IngestResult, Pipeline


async def _channel(db: Database) -> ChannelRef:
    async with db.write() as session:
        workspace = Workspace(slug="acme", name="Acme")
        session.add(workspace)
        await session.flush()
        row = Channel(workspace_id=workspace.id, network="rss", name="Press")
        session.add(row)
        await session.flush()
        return ChannelRef(id=row.id, workspace_id=workspace.id, network="rss")


async def _cursor(db: Database, channel: ChannelRef) -> dict[str, Any]:
    async with db.read() as session:
        row = await session.get(Channel, channel.id)
        assert row is not None
        return dict(row.cursor or {})


async def _run(connector: RssConnector, db: Database, channel: ChannelRef) -> IngestResult:
    pipeline, total = Pipeline(db), IngestResult()
    async for batch in connector.listen(await _cursor(db, channel)):
        total.add(
            await pipeline.ingest(channel, batch.items, connector.normalise, cursor=batch.cursor)
        )
    return total


async def test_feed_entries_are_stored_once_with_the_conditional_get_cursor(
    httpserver: HTTPServer, payloads: Path, db: Database
) -> None:
    feeds = {
        '"v1"': (payloads / "home-assistant-feedreader/feedreader.xml").read_bytes(),
        '"v3"': (payloads / "home-assistant-feedreader/feedreader3.xml").read_bytes(),
    }
    current = ['"v1"']

    def feed(request: Request) -> Response:
        etag = current[0]
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304)
        return Response(feeds[etag], content_type="application/rss+xml", headers={"ETag": etag})

    httpserver.expect_request("/feed.xml").respond_with_handler(feed)
    channel = await _channel(db)
    connector = RssConnector(
        ChannelContext(channel.id, "", config={"url": httpserver.url_for("/feed.xml")})
    )

    first = await _run(connector, db, channel)
    unchanged = await _run(connector, db, channel)
    current[0] = '"v3"'
    grown = await _run(connector, db, channel)
    saved = await _cursor(db, channel)
    async with db.write() as session:
        await session.execute(update(Channel).values(cursor={}))  # a lost cursor
    replayed = await _run(connector, db, channel)

    assert [r.summary() for r in (first, unchanged, grown, replayed)] == [
        {"accepted": 1, "duplicates": 0, "quarantined": 0},
        {"accepted": 0, "duplicates": 0, "quarantined": 0},
        {"accepted": 2, "duplicates": 0, "quarantined": 0},
        {"accepted": 0, "duplicates": 3, "quarantined": 0},
    ]
    assert saved == {"etag": '"v3"', "seen": ["GUID 1", "GUID 2", "GUID 3"]}
    assert [log.status_code for _, log in httpserver.log] == [200, 304, 200, 200]
    async with db.read() as session:
        stored = list(await session.scalars(select(Message).order_by(Message.external_id)))
    assert [(m.external_id, m.kind, m.conversation_id) for m in stored] == [
        ("GUID 1", "article", None),
        ("GUID 2", "article", None),
        ("GUID 3", "article", None),
    ]
    assert stored[0].extra["title"] == "Title 1"
