"""The inbox's ``query`` filter: conversations with an inbound message that matches a query in
the listening query language (:mod:`allsang.listening.query`).

The listening matcher runs in Python, so the filter reads the inbound messages of the
conversations the other filters leave (streamed, never all in memory) and evaluates the query
on each; narrowing with other filters (status, channel, search words) makes it cheaper.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import Channel, Contact, Message
from allsang.listening.query import Message as QueryMessage
from allsang.listening.query import QuerySet, compile_queries

STREAM_CHUNK = 2000


def compile_filter(query: str) -> QuerySet:
    """The compiled query; raises :class:`~allsang.listening.query.QuerySyntaxError` (with the
    1-based column) for one that cannot be used."""
    return compile_queries([("inbox", query)])


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


async def matching_conversations(
    session: AsyncSession, compiled: QuerySet, candidates: Select[Any]
) -> set[int]:
    """Ids among ``candidates`` (a select of conversation ids) with a matching inbound message."""
    statement = (
        select(
            Message.conversation_id,
            Message.text,
            Message.lang,
            Message.sentiment,
            Message.url,
            Message.extra,
            Contact.handle,
            Contact.name,
            Channel.network,
        )
        .outerjoin(Contact, Contact.id == Message.contact_id)
        .outerjoin(Channel, Channel.id == Message.channel_id)
        .where(Message.conversation_id.in_(candidates.scalar_subquery()))
        .where(Message.direction == "inbound")
        .execution_options(yield_per=STREAM_CHUNK)
    )
    found: set[int] = set()
    result = await session.stream(statement)
    async for conversation_id, body, lang, sentiment, url, extra, handle, name, network in result:
        if conversation_id in found:
            continue
        extra = extra or {}
        message = QueryMessage(
            text=body or "",
            lang=lang,
            sentiment=sentiment,
            author=handle,
            author_name=name or None,
            url=url or None,
            country=_str(extra.get("country")),
            platform=network,
            channel=network,
            title=_str(extra.get("title")),
        )
        if compiled.match(message):
            found.add(conversation_id)
    return found
