"""The audit log: one row per state change, written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from allsang.authz import Actor
from allsang.db.models import AuditEvent


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: object = None,
    *,
    workspace_id: int | None = None,
    ip: str | None = None,
    **data: Any,
) -> AuditEvent:
    """Add an audit event to ``session`` (the caller's transaction commits it with the change)."""
    event = AuditEvent(
        workspace_id=workspace_id if workspace_id is not None else actor.workspace_id,
        actor_person_id=actor.person_id,
        actor=actor.label,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        data=data,
        ip=ip,
    )
    session.add(event)
    return event
