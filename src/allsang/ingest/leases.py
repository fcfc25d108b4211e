"""Channel leases: share the channels between ingest processes, never polling one twice.

Contract: :func:`balance` is called by every ingest coordinator on each scan with the channels
that should be listened to. It renews this process's membership and leases, takes channels
nobody holds (or whose lease expired: their process died or stalled) up to its fair share,
gives back channels above its fair share so a process that just started gets some, and returns
the channel ids this process holds now. Only the holder of an unexpired lease runs a channel's
listen loop; a process that could not renew in time loses the channel at its next scan. With
``ttl`` = 2 × the scan interval, a dead process's channels run again elsewhere within ``ttl`` +
one scan.

The fair share is ``ceil(channels / live processes)``; a process is live while its membership
row (renewed with its leases) has not expired, whether or not it holds channels yet.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db import Database
from allsang.db.models.ingest import IngestLease, IngestMember
from allsang.db.types import utcnow


def holder_id() -> str:
    """Who this process is, readable in the table: host, pid and a random suffix."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def balance(db: Database, holder: str, wanted: Collection[int], ttl: timedelta) -> set[int]:
    now = utcnow()
    until = now + ttl
    async with db.write() as session:
        member = _insert(session, IngestMember).values(holder=holder, expires_at=until)
        await session.execute(
            member.on_conflict_do_update(index_elements=["holder"], set_={"expires_at": until})
        )
        await session.execute(delete(IngestMember).where(IngestMember.expires_at <= now))
        await session.execute(
            delete(IngestLease).where(
                IngestLease.holder == holder, IngestLease.channel_id.not_in(list(wanted))
            )
        )
        await session.execute(
            update(IngestLease)
            .where(IngestLease.holder == holder, IngestLease.expires_at > now)
            .values(expires_at=until)
        )
        live = await session.scalar(select(func.count()).select_from(IngestMember)) or 1
        rows = await session.execute(
            select(IngestLease.channel_id, IngestLease.holder).where(IngestLease.expires_at > now)
        )
        taken = {channel_id: who for channel_id, who in rows}
        mine = {c for c, who in taken.items() if who == holder}
        share = math.ceil(len(wanted) / live)

        for channel_id in sorted(set(wanted) - set(taken)):
            if len(mine) >= share:
                break
            if await _take(session, channel_id, holder, now, until):
                mine.add(channel_id)

        surplus = sorted(mine)[share:]
        if surplus:
            await session.execute(
                delete(IngestLease).where(
                    IngestLease.holder == holder, IngestLease.channel_id.in_(surplus)
                )
            )
            mine -= set(surplus)
    return mine


async def release(db: Database, holder: str) -> None:
    """Give every lease back (a clean stop), so other processes take over at once."""
    async with db.write() as session:
        await session.execute(delete(IngestLease).where(IngestLease.holder == holder))
        await session.execute(delete(IngestMember).where(IngestMember.holder == holder))


async def holders(db: Database) -> dict[int, str]:
    """Channel id → the process holding its unexpired lease."""
    async with db.read() as session:
        rows = await session.execute(
            select(IngestLease.channel_id, IngestLease.holder).where(
                IngestLease.expires_at > utcnow()
            )
        )
        return {channel_id: who for channel_id, who in rows}


def _insert(session: AsyncSession, table: type[IngestLease] | type[IngestMember]):  # type: ignore[no-untyped-def]
    dialect = session.bind.dialect.name if session.bind is not None else ""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def _take(
    session: AsyncSession, channel_id: int, holder: str, now: datetime, until: datetime
) -> bool:
    """Insert the lease, or take it over when it expired; True when this process got it."""
    statement = (
        _insert(session, IngestLease)
        .values(channel_id=channel_id, holder=holder, expires_at=until)
        .on_conflict_do_update(
            index_elements=[IngestLease.channel_id],
            set_={"holder": holder, "expires_at": until},
            where=or_(IngestLease.expires_at <= now, IngestLease.holder == holder),
        )
        .returning(IngestLease.holder)
    )
    # RETURNING, not rowcount: a concurrent holder's insert makes the upsert a no-op.
    return (await session.execute(statement)).first() is not None
