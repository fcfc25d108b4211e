"""Incremental refresh equals a rebuild, whatever the order and the batching of the history."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from allsang.analytics import aggregate
from allsang.db import Database
from allsang.db.models import Conversation
from allsang.db.models.analytics import (
    AnalyticsChannelDay,
    AnalyticsConversation,
    AnalyticsDay,
    AnalyticsLangDay,
    AnalyticsResponse,
    AnalyticsVoiceDay,
)
from allsang.db.types import utcnow
from allsang.settings import Settings
from tests.analytics.history import at, contact, message, world

TEXTS = ["Hej, när öppnar ni?", "Tack!", "Helt oacceptabelt, jag är missnöjd.", "Hallå", "ok"]

# One step: (kind, conversation number, minutes after the start, text number, refresh after?)
STEP = st.tuples(
    st.sampled_from(["inbound", "outbound", "note", "broadcast", "close"]),
    st.integers(0, 3),
    st.integers(0, 3 * 24 * 60),
    st.integers(0, len(TEXTS) - 1),
    st.booleans(),
)


async def _snapshot(db: Database, workspace_id: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with db.read() as session:
        for table in (
            AnalyticsDay,
            AnalyticsChannelDay,
            AnalyticsLangDay,
            AnalyticsVoiceDay,
            AnalyticsResponse,
            AnalyticsConversation,
        ):
            rows = (
                await session.execute(select(table).where(table.workspace_id == workspace_id))
            ).scalars()
            out[table.__tablename__] = sorted(
                tuple(
                    (c.name, getattr(row, c.key))
                    for c in table.__table__.columns
                    if c.name not in ("id", "updated_at")
                )
                for row in rows
            )
    return out


async def _play(db: Database, steps: list[tuple[str, int, int, int, bool]]) -> None:
    async with db.write() as session:
        w = await world(session)
        conversations = []
        for n in range(4):
            who = await contact(session, w, f"c{n}")
            row = Conversation(
                workspace_id=w.workspace.id,
                channel_id=(w.mastodon if n % 2 else w.mail).id,
                contact_id=who.id,
                thread_key=f"k{n}",
                created_at=at(1, 0),
            )
            session.add(row)
            conversations.append((row, who))
        await session.flush()
        workspace_id = w.workspace.id
    for kind, number, minutes, text, refresh in steps:
        when = at(1, 0) + timedelta(minutes=minutes)
        async with db.write() as session:
            conversation, who = conversations[number]
            conversation = await session.get(Conversation, conversation.id)
            assert conversation is not None
            channel = w.mastodon if number % 2 else w.mail
            # Like the inbox and ingest: a change moves updated_at to the real present.
            conversation.updated_at = utcnow()
            if kind == "close":
                conversation.status = "closed"
            elif kind == "broadcast":
                await message(session, w, channel, "outbound", when, TEXTS[text], person=w.ola)
            else:
                await message(
                    session,
                    w,
                    channel,
                    kind,
                    when,
                    TEXTS[text],
                    person=w.anna if kind != "inbound" else None,
                    conversation=conversation,
                    contact_id=who.id if kind == "inbound" else None,
                    sentiment=("pos", "neu", "neg")[text % 3],
                    score=(text - 2) / 2,
                )
        if refresh:
            await aggregate.refresh(db, workspace_id)
    await aggregate.refresh(db, workspace_id)
    incremental = await _snapshot(db, workspace_id)
    await aggregate.rebuild(db, workspace_id)
    rebuilt = await _snapshot(db, workspace_id)
    for name, rows in rebuilt.items():
        assert incremental[name] == rows, name
    assert rebuilt["analytics_conversation"]  # the history was counted at all
    # Every counted day is rolled up into its week, its 28 and its 112 days.
    assert {row[1][1] for row in rebuilt["analytics_day"]} in (set(), {1, 7, 28, 112})


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=1, max_size=8))
def test_incremental_refresh_equals_a_rebuild(
    settings: Settings, steps: list[tuple[str, int, int, int, bool]]
) -> None:
    async def run() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            await _play(db, steps)
        finally:
            await db.dispose()

    asyncio.run(run())
