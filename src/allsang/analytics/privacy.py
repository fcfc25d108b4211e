"""Erasure and retention hooks: recount the aggregates the deleted messages were part of.

Per-conversation facts of deleted conversations go by cascade; what is left to correct is the
day buckets the messages were counted in, and the facts of conversations that only lost some
messages (a person's reply in someone else's thread)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from allsang.analytics.aggregate import _context, recount_conversations, recount_days
from allsang.analytics.definitions import local_day
from allsang.db.types import utcnow
from allsang.privacy.erase import Erased, on_erase


@on_erase
async def recount_after_erasure(session: AsyncSession, erased: Erased) -> dict[str, int]:
    ctx = await _context(session, erased.workspace_id)
    if ctx is None or not erased.instants:
        return {}
    days = {local_day(at, ctx.zone) for at in erased.instants}
    days |= await recount_conversations(session, ctx, erased.touched_conversations, utcnow())
    await recount_days(session, ctx, days)
    return {"analytics_days_recounted": len(days)}
