"""Hints for conversations: the topic naming and the ingest pipeline's commit hook.

Topic ``workspace:<id>`` carries ``{"conversation": id, "seq": n}`` whenever a conversation of
that workspace changed (new message, assignment, status, note, reply). ``seq`` is the
conversation's ``updated_at`` in microseconds since the epoch: the same value live pages use as
SSE event id, so a client's ``Last-Event-ID`` says from where to re-read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from allsang.db import Database
from allsang.db.models import Conversation, Message
from allsang.ingest.pipeline import ChannelRef, CommitHook
from allsang.live.broadcast import Broadcast


def workspace_topic(workspace_id: int) -> str:
    return f"workspace:{workspace_id}"


def micros(at: datetime) -> int:
    """An instant as integer microseconds since the epoch (the ``seq`` of hints and SSE ids)."""
    return int(at.timestamp() * 1_000_000)


def hint(conversation_id: int, updated_at: datetime) -> dict[str, int]:
    return {"conversation": conversation_id, "seq": micros(updated_at)}


def conversation_hint(conversation: Conversation) -> dict[str, int]:
    return hint(conversation.id, conversation.updated_at)


async def publish_conversations(
    broadcast: Broadcast, conversations: Iterable[Conversation]
) -> None:
    """Publish one hint per conversation, after the transaction that changed them committed."""
    for conversation in conversations:
        await broadcast.publish(
            workspace_topic(conversation.workspace_id), conversation_hint(conversation)
        )


def commit_hook(db: Database, broadcast: Broadcast) -> CommitHook:
    """An ingest ``on_commit`` hook: a hint per conversation the stored messages touched."""

    async def hook(channel: ChannelRef, message_ids: list[int]) -> None:
        if not message_ids:
            return
        # A batch's ids are (nearly) contiguous: a range costs two parameters where an IN list
        # costs one per message (and breaks SQLite's limit on big batches). A message of another
        # transaction inside the range only adds a spare hint, which costs nothing.
        async with db.read() as session:
            rows = await session.execute(
                select(Conversation.workspace_id, Conversation.id, Conversation.updated_at)
                .where(
                    Conversation.id.in_(
                        select(Message.conversation_id).where(
                            Message.channel_id == channel.id,
                            Message.id.between(min(message_ids), max(message_ids)),
                        )
                    )
                )
                .order_by(Conversation.id)
            )
            hints = rows.all()
        # Three columns, not whole conversations: this runs after every ingest batch.
        for workspace_id, conversation_id, updated_at in hints:
            await broadcast.publish(
                workspace_topic(workspace_id), hint(conversation_id, updated_at)
            )

    return hook
