"""Retention: how long a workspace keeps listening data, inbox data and its audit log.

Contract:

* A workspace's policy lives in ``workspace.settings["retention"]`` as days per kind
  (``listening_days``, ``inbox_days``, ``audit_days``); a missing or empty value keeps forever.
* **Listening data** is a conversation nobody on the team ever touched (no reply, no note, no
  assignee) and its messages. **Inbox data** is a closed conversation the team worked on and its
  messages. A conversation goes when its last message is older than the kind's limit; open
  conversations are never removed by retention. **Audit events** go when they are older than
  ``audit_days``.
* :func:`apply_retention` deletes in batches (so a first run on a big database does not hold
  the write lock for long), runs the :func:`~allsang.privacy.erase.on_erase` hooks for every
  batch so aggregates follow, and returns the counts; ``dry_run`` only counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor
from allsang.db import Database
from allsang.db.models import AuditEvent, Conversation, Message, Workspace
from allsang.db.types import utcnow
from allsang.privacy.erase import Erased, run_hooks

KINDS = ("listening_days", "inbox_days", "audit_days")
BATCH = 500
RETENTION_ACTOR = Actor(kind="system", label="retention")


@dataclass(frozen=True, slots=True)
class Policy:
    listening_days: int | None = None
    inbox_days: int | None = None
    audit_days: int | None = None

    @classmethod
    def of(cls, workspace: Workspace) -> Policy:
        raw = (workspace.settings or {}).get("retention") or {}
        return cls(**{kind: _days(raw.get(kind)) for kind in KINDS})

    def as_settings(self) -> dict[str, int | None]:
        return {kind: getattr(self, kind) for kind in KINDS}


def _days(value: Any) -> int | None:
    if value in (None, ""):
        return None
    days = int(value)
    if days < 1:
        raise ValueError("retention is at least one day")
    return days


def _team_touched() -> Any:
    return exists().where(
        Message.conversation_id == Conversation.id, Message.direction.in_(("outbound", "note"))
    )


def _expired(workspace_id: int, kind: str, cutoff: datetime) -> Any:
    old = and_(
        Conversation.workspace_id == workspace_id,
        func.coalesce(Conversation.last_message_at, Conversation.created_at) < cutoff,
    )
    if kind == "listening_days":
        return and_(old, Conversation.assignee_id.is_(None), ~_team_touched())
    return and_(old, Conversation.status == "closed", _team_touched())


async def apply_retention(
    db: Database, workspace_id: int, *, now: datetime | None = None, dry_run: bool = False
) -> dict[str, int]:
    now = now or utcnow()
    async with db.read() as session:
        workspace = await session.get_one(Workspace, workspace_id)
    policy = Policy.of(workspace)
    counts = {"conversations": 0, "messages": 0, "audit_events": 0}
    for kind in ("listening_days", "inbox_days"):
        days = getattr(policy, kind)
        if days is None:
            continue
        expired = select(Conversation.id).where(
            _expired(workspace_id, kind, now - timedelta(days=days))
        )
        if dry_run:
            async with db.read() as session:
                counts["conversations"] += await _count(session, expired)
                counts["messages"] += await _count(
                    session, select(Message.id).where(Message.conversation_id.in_(expired))
                )
            continue
        while True:
            async with db.write() as session:
                ids = list(await session.scalars(expired.order_by(Conversation.id).limit(BATCH)))
                if not ids:
                    break
                counts["messages"] += await _drop_conversations(session, workspace_id, ids)
                counts["conversations"] += len(ids)
    if policy.audit_days is not None:
        cutoff = now - timedelta(days=policy.audit_days)
        old = (AuditEvent.workspace_id == workspace_id) & (AuditEvent.created_at < cutoff)
        async with db.write() as session:
            if dry_run:
                counts["audit_events"] = int(
                    await session.scalar(select(func.count()).select_from(AuditEvent).where(old))
                    or 0
                )
            else:
                result = await session.execute(delete(AuditEvent).where(old))
                counts["audit_events"] = result.rowcount  # type: ignore[attr-defined]
    if not dry_run and any(counts.values()):
        async with db.write() as session:
            audit.record(
                session,
                RETENTION_ACTOR,
                "retention.apply",
                "workspace",
                workspace_id,
                workspace_id=workspace_id,
                counts=counts,
            )
    return counts


async def _count(session: AsyncSession, query: Select[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)


async def _drop_conversations(session: AsyncSession, workspace_id: int, ids: list[int]) -> int:
    instants = list(
        await session.scalars(select(Message.created_at).where(Message.conversation_id.in_(ids)))
    )
    await session.execute(delete(Message).where(Message.conversation_id.in_(ids)))
    await session.execute(delete(Conversation).where(Conversation.id.in_(ids)))
    await run_hooks(
        session,
        Erased(
            workspace_id=workspace_id,
            contact_id=None,
            conversation_ids=ids,
            touched_conversations=set(),
            instants=instants,
        ),
    )
    return len(instants)


async def apply_all(db: Database, *, now: datetime | None = None) -> dict[int, dict[str, int]]:
    """Apply every workspace's policy (the daily job)."""
    async with db.read() as session:
        workspace_ids = list(await session.scalars(select(Workspace.id).order_by(Workspace.id)))
    return {wid: await apply_retention(db, wid, now=now) for wid in workspace_ids}
