"""Demo saved replies: a few everyday answers in Swedish, one of them for customer service
only, so the reply box's picker has something to insert."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import Department, Workspace
from allsang.db.models.inbox_workflow import SavedReply

# (name, text, department or None for the whole workspace)
SAVED_REPLIES = (
    ("Tack", "Tack för att du hörde av dig, {contact_name}! /{agent_first_name}", None),
    (
        "Öppettider",
        "Hej {contact_name}! Kundtjänst har öppet vardagar 8–20 och helger 10–14. "
        "/{agent_first_name}, {workspace_name}",
        "Customer service",
    ),
    (
        "Vi återkommer",
        "Hej {contact_name}, vi tittar på det och återkommer så snart vi kan. /{agent_first_name}",
        None,
    ),
)


async def seed_inbox_workflow(
    session: AsyncSession, workspace: Workspace, departments: dict[str, Department]
) -> None:
    """Add the demo's saved replies that are not there yet (by name)."""
    existing = set(
        await session.scalars(
            select(SavedReply.name).where(SavedReply.workspace_id == workspace.id)
        )
    )
    for name, text, department in SAVED_REPLIES:
        if name in existing:
            continue
        session.add(
            SavedReply(
                workspace_id=workspace.id,
                name=name,
                text=text,
                department_id=departments[department].id if department else None,
            )
        )
