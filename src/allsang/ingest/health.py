"""Channel health: what the coordinator learns about each channel, written to its ``channel`` row.

* ``last_success_at`` — the last time the source answered (a poll that found nothing counts;
  the pipeline also sets it when it commits a batch);
* ``last_error`` and ``last_error_at`` — the last failure in words (kept after recovery, so
  people can see what happened);
* ``last_item_at`` — the newest stored item's time (set by the pipeline), from which the
  **lag** (now − newest item) is computed;
* ``token_expires_at`` — when the credential runs out, if the connector knows;
* ``state`` — ``active``, ``failing`` (a permanent error; retried rarely), ``reconnect_needed``
  (the credentials stopped working: a person must reconnect; never a silent stop) or
  ``paused`` (by a person).

Every function here commits its own small transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from allsang import audit
from allsang.authz import Actor
from allsang.db import Database
from allsang.db.models import Channel
from allsang.db.types import utcnow

log = logging.getLogger(__name__)

INGEST_ACTOR = Actor(kind="system", label="ingest")
RECONNECT_JOB = "channel.reconnect_needed"
MAX_ERROR = 2000


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    id: int
    workspace_id: int
    name: str
    network: str
    state: str
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    last_item_at: datetime | None
    token_expires_at: datetime | None

    def lag(self, now: datetime | None = None) -> timedelta | None:
        """How far behind the newest stored item is (``None`` before the first item)."""
        if self.last_item_at is None:
            return None
        return max((now or utcnow()) - self.last_item_at, timedelta(0))

    def token_expires_in(self, now: datetime | None = None) -> timedelta | None:
        if self.token_expires_at is None:
            return None
        return self.token_expires_at - (now or utcnow())

    def describe(self, now: datetime | None = None) -> str:
        """One line for people: state, lag, token expiry and the last error."""
        now = now or utcnow()
        parts = [self.state]
        lag = self.lag(now)
        parts.append("no items yet" if lag is None else f"lag {human(lag)}")
        expires = self.token_expires_in(now)
        if expires is not None:
            parts.append(
                f"token expired {human(-expires)} ago"
                if expires.total_seconds() <= 0
                else f"token expires in {human(expires)}"
            )
        if self.last_error and self.state != "active":
            parts.append(f"last error: {self.last_error}")
        return ", ".join(parts)


def human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


async def channel_health(db: Database, workspace_id: int | None = None) -> list[ChannelHealth]:
    statement = select(Channel).order_by(Channel.workspace_id, Channel.id)
    if workspace_id is not None:
        statement = statement.where(Channel.workspace_id == workspace_id)
    async with db.read() as session:
        rows = list(await session.scalars(statement))
    return [
        ChannelHealth(
            id=row.id,
            workspace_id=row.workspace_id,
            name=row.name,
            network=row.network,
            state=row.state,
            last_success_at=row.last_success_at,
            last_error=row.last_error,
            last_error_at=row.last_error_at,
            last_item_at=row.last_item_at,
            token_expires_at=row.token_expires_at,
        )
        for row in rows
    ]


async def _update(db: Database, channel_id: int, **values: Any) -> None:
    async with db.write() as session:
        await session.execute(
            update(Channel)
            .where(Channel.id == channel_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


async def record_success(
    db: Database, channel_id: int, *, token_expires_at: datetime | None = None
) -> None:
    """The source answered: note the time, and a ``failing`` channel is ``active`` again."""
    values: dict[str, Any] = {"last_success_at": utcnow()}
    if token_expires_at is not None:
        values["token_expires_at"] = token_expires_at
    async with db.write() as session:
        await session.execute(
            update(Channel)
            .where(Channel.id == channel_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(Channel)
            .where(Channel.id == channel_id, Channel.state == "failing")
            .values(state="active")
            .execution_options(synchronize_session=False)
        )


async def record_error(db: Database, channel_id: int, error: str, *, failing: bool = False) -> None:
    """Note a failure; ``failing`` marks the channel as failing (a permanent error)."""
    values: dict[str, Any] = {"last_error": error[:MAX_ERROR], "last_error_at": utcnow()}
    if failing:
        values["state"] = "failing"
    await _update(db, channel_id, **values)


async def save_cursor(db: Database, channel_id: int, cursor: dict[str, Any]) -> None:
    """Save a source cursor outside a batch (only when the stream holds batches durably)."""
    await _update(db, channel_id, cursor=cursor)


async def mark_reconnect_needed(db: Database, channel_id: int, error: str) -> None:
    """The credentials no longer work: set ``reconnect_needed``, write an audit event and
    queue a notification job (``channel.reconnect_needed``), all in one transaction."""
    from allsang.jobs import enqueue

    async with db.write() as session:
        channel = await session.get(Channel, channel_id)
        if channel is None:
            return
        now = utcnow()
        channel.state = "reconnect_needed"
        channel.last_error = error[:MAX_ERROR]
        channel.last_error_at = now
        audit.record(
            session,
            INGEST_ACTOR,
            "channel.reconnect_needed",
            "channel",
            channel.id,
            workspace_id=channel.workspace_id,
            error=error[:MAX_ERROR],
        )
        await enqueue(
            session,
            RECONNECT_JOB,
            {"channel_id": channel.id, "error": error[:MAX_ERROR]},
            workspace_id=channel.workspace_id,
            idempotency_key=f"{RECONNECT_JOB}:{channel.id}:{now.isoformat()}",
        )
    log.warning("channel %s needs reconnecting: %s", channel_id, error)
