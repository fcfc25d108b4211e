"""Seeding for wall tests: a workspace with one webhook channel, messages through the pipeline."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.models import Channel, Workspace
from allsang.ingest.pipeline import ChannelRef, Pipeline
from allsang.wall import service

_ids = itertools.count(1)


async def make_channel(db: Database, slug: str = "acme") -> ChannelRef:
    async with db.write() as session:
        workspace = Workspace(slug=slug, name=slug.title())
        session.add(workspace)
        await session.flush()
        channel = Channel(workspace_id=workspace.id, network="webhook", name="Hook")
        session.add(channel)
        await session.flush()
        return ChannelRef(channel.id, workspace.id, "webhook")


def message_payload(text: str, handle: str = "anna", **extra: Any) -> dict[str, Any]:
    return {
        "channel": "webhook",
        "external_id": f"m{next(_ids)}",
        "author": {"handle": handle, "name": handle.title()},
        "text": text,
        "created_at": datetime(2026, 11, 22, 9, tzinfo=UTC).isoformat(),
        **extra,
    }


async def post(
    db: Database, channel: ChannelRef, text: str, handle: str = "anna", **extra: Any
) -> int:
    """Ingest one message as a webhook would and return its id."""
    result = await Pipeline(db).ingest(channel, [RawItem(message_payload(text, handle, **extra))])
    return result.message_ids[0]


async def make_wall(
    db: Database,
    channel: ChannelRef,
    *,
    moderation: str = "auto",
    sources: list[service.Source] | None = None,
    rules: list[service.Rule] | None = None,
) -> int:
    async with db.write() as session:
        wall = await service.create_wall(
            session,
            channel.workspace_id,
            service.WallFields(
                name=f"Entrance {next(_ids)}", title="Welcome", moderation=moderation
            ),
        )
        await service.set_sources(
            session, wall, sources or [service.Source("hashtag", hashtag="allsang")]
        )
        await service.set_rules(session, wall, rules or [])
        return wall.id


async def log(db: Database, wall_id: int) -> list[tuple[int, str, int]]:
    async with db.read() as session:
        return [
            (e.seq, e.kind, e.message_id)
            for e in await service.events_after(session, wall_id, 0, limit=10_000)
        ]
