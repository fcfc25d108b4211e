"""Ingest publishes a hint per touched conversation once the batch has committed."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from allsang.channels import ingest_pipeline
from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.models import Channel, Conversation, Workspace
from allsang.ingest.pipeline import ChannelRef, Pipeline
from allsang.live import InProcessBroadcast, micros, open_broadcast, workspace_topic
from allsang.live.hooks import commit_hook
from allsang.runtime import Runtime


async def _channel(db: Database) -> ChannelRef:
    async with db.write() as session:
        workspace = Workspace(slug="w", name="W")
        session.add(workspace)
        await session.flush()
        channel = Channel(workspace_id=workspace.id, network="webhook", name="Hook")
        session.add(channel)
        await session.flush()
        return ChannelRef(channel.id, workspace.id, "webhook")


def _item(external_id: str, thread: str | None = None) -> RawItem:
    payload = {
        "external_id": external_id,
        "channel": "webhook",
        "addressed": True,
        "created_at": "2026-11-20T10:00:00Z",
        "text": f"hello {external_id}",
        "author": {"handle": "anna@example.org"},
    }
    if thread:
        payload["in_reply_to"] = thread
    return RawItem(payload=payload)


async def test_a_batch_publishes_one_hint_per_conversation_with_its_updated_at(
    db: Database,
) -> None:
    ref = await _channel(db)
    broadcast = InProcessBroadcast()
    pipeline = Pipeline(db, on_commit=[commit_hook(db, broadcast)])
    async with broadcast.subscribe(workspace_topic(ref.workspace_id)) as hints:
        await pipeline.ingest(ref, [_item("a"), _item("b"), _item("c", thread="a")])
        received = [await asyncio.wait_for(anext(hints), 2) for _ in range(2)]
    async with db.read() as session:
        conversations = {c.id: c for c in await session.scalars(select(Conversation))}
    assert sorted(h["conversation"] for h in received) == sorted(conversations)
    for hint in received:
        assert hint["seq"] == micros(conversations[hint["conversation"]].updated_at)


async def test_the_webhook_pipeline_publishes_on_the_process_broadcast(runtime: Runtime) -> None:
    ref = await _channel(runtime.db)
    pipeline = await ingest_pipeline(runtime)
    broadcast = open_broadcast(runtime.settings.broadcast_url)
    async with broadcast.subscribe(workspace_topic(ref.workspace_id)) as hints:
        await pipeline.ingest(ref, [_item("z")])
        hint = await asyncio.wait_for(anext(hints), 2)
    assert set(hint) == {"conversation", "seq"}
