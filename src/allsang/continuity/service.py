"""Continuity transitions as whole transactions, with live hints after each commit (for the
web routes and the jobs)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from allsang.continuity import absence as absences
from allsang.db.models import Conversation
from allsang.live import open_broadcast, publish_conversations
from allsang.runtime import Runtime


async def announce(runtime: Runtime, conversation_ids: list[int]) -> None:
    """Tell open inbox pages that these conversations changed (after the commit)."""
    if not conversation_ids:
        return
    async with runtime.db.read() as session:
        conversations = list(
            await session.scalars(
                select(Conversation).where(Conversation.id.in_(sorted(set(conversation_ids))))
            )
        )
    await publish_conversations(open_broadcast(runtime.settings.broadcast_url), conversations)


async def advance(runtime: Runtime, absence_id: int, now: datetime | None = None) -> bool:
    """Move one absence along (see :func:`allsang.continuity.absence.advance`); True when
    its state changed or work was handed over."""
    async with runtime.db.write() as session:
        outcome = await absences.advance(session, absence_id, now=now)
    await announce(runtime, outcome.conversation_ids)
    return outcome.changed


async def sweep(runtime: Runtime, now: datetime | None = None) -> int:
    """Start and end every absence that is due (a safety net for lost jobs) and hand over
    what was given to absent people meanwhile; returns how many absences changed."""
    async with runtime.db.read() as session:
        ids = await absences.due(session, now)
    changed = 0
    for absence_id in ids:
        changed += await advance(runtime, absence_id, now)
    return changed


async def check_bus_factor(runtime: Runtime, now: datetime | None = None) -> list[str]:
    """Run the bus-factor check in every workspace (one transaction each); returns the
    conditions alerted now, as ``<workspace id>/<key>``."""
    from allsang.continuity import busfactor
    from allsang.db.models import Workspace
    from allsang.listening import alerts

    async with runtime.db.read() as session:
        workspace_ids = list(await session.scalars(select(Workspace.id).order_by(Workspace.id)))
    raised = []
    for workspace_id in workspace_ids:
        async with runtime.db.write() as session:
            workspace = await session.get(Workspace, workspace_id)
            if workspace is None:
                continue
            settings = alerts.load_settings(workspace, runtime.secrets)
            keys = await busfactor.check(session, workspace, settings, now)
        raised.extend(f"{workspace_id}/{key}" for key in keys)
    return raised
