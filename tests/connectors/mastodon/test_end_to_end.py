from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from allsang.connectors.mastodon import MastodonConnector
from allsang.db import Database
from allsang.db.models import Channel, Conversation, Message, Workspace
from allsang.ingest.pipeline import ChannelRef, IngestResult, Pipeline
from tests.connectors.mastodon.conftest import FakeMastodon, connector_for, fixture, recorded


async def _channel(db: Database) -> ChannelRef:
    async with db.write() as session:
        workspace = Workspace(slug="acme", name="Acme")
        session.add(workspace)
        await session.flush()
        row = Channel(workspace_id=workspace.id, network="mastodon", name="Mastodon")
        session.add(row)
        await session.flush()
        return ChannelRef(id=row.id, workspace_id=workspace.id, network="mastodon")


async def _saved_cursor(db: Database, channel: ChannelRef) -> dict[str, Any]:
    async with db.read() as session:
        row = await session.get(Channel, channel.id)
        assert row is not None
        return dict(row.cursor or {})


async def _run(
    connector: MastodonConnector, pipeline: Pipeline, channel: ChannelRef, cursor: dict[str, Any]
) -> IngestResult:
    total = IngestResult()
    async for batch in connector.listen(cursor):
        total.add(
            await pipeline.ingest(channel, batch.items, connector.normalise, cursor=batch.cursor)
        )
    return total


async def test_mentions_are_stored_threaded_with_the_cursor_and_never_twice(
    fake: FakeMastodon, payloads: Path, db: Database
) -> None:
    channel = await _channel(db)
    pipeline = Pipeline(db)
    connector = connector_for(fake.server)
    fake.notifications.extend(
        recorded(payloads, "test_notifications.yaml", "GET", "/api/v1/notifications")
    )

    first = await _run(connector, pipeline, channel, await _saved_cursor(db, channel))
    fake.notifications.append(fixture("reply_notification.json"))
    second = await _run(connector, pipeline, channel, await _saved_cursor(db, channel))
    again = await _run(connector, pipeline, channel, await _saved_cursor(db, channel))
    replayed = await _run(connector, pipeline, channel, {})  # a lost cursor replays everything

    assert [r.summary() for r in (first, second, again, replayed)] == [
        {"accepted": 1, "duplicates": 0, "quarantined": 0},
        {"accepted": 1, "duplicates": 0, "quarantined": 0},
        {"accepted": 0, "duplicates": 0, "quarantined": 0},
        {"accepted": 0, "duplicates": 2, "quarantined": 0},
    ]
    assert await _saved_cursor(db, channel) == {"notifications": "25"}
    async with db.read() as session:
        messages = list(await session.scalars(select(Message).order_by(Message.created_at)))
        conversations = list(await session.scalars(select(Conversation)))
    assert [(m.external_id, m.kind, m.in_reply_to) for m in messages] == [
        ("117020576916218297", "post", None),
        ("117020600000000001", "reply", "117020576916218297"),
    ]
    (conversation,) = conversations
    assert {m.conversation_id for m in messages} == {conversation.id}
    assert conversation.subject == "@mastodonpy_test hello!"
