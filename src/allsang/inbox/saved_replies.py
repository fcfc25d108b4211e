"""Saved replies: a workspace's reply templates (optionally for one department) with
variables filled in for the conversation at hand.

Variables are written ``{name}``; only the names in :data:`VARIABLES` are replaced, anything
else in braces stays as written (no ``str.format``: a template must not reach attributes or
format specs). The result is plain text: it goes into the reply box and is escaped wherever it
is shown, like every reply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor
from allsang.db.models import Channel, Contact, Conversation, Department, Person, Workspace
from allsang.db.models.inbox_workflow import SavedReply
from allsang.i18n import N_
from allsang.inbox.actions import InvalidChange, NotFound

MAX_NAME = 100
MAX_TEXT = 5000
# name -> what it becomes (for the help text on the admin page)
VARIABLES: dict[str, str] = {
    "contact_name": N_("the contact's name (their handle when they have no name)"),
    "contact_handle": N_("the contact's handle on the network"),
    "agent_name": N_("your name"),
    "agent_first_name": N_("your first name"),
    "workspace_name": N_("the workspace's name"),
    "department_name": N_("the conversation's department"),
    "channel_name": N_("the channel's name"),
}
_VARIABLE = re.compile(r"\{([a-z_]{1,40})\}")


def render(text: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` for each known variable; unknown ones stay as written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return values.get(name, match.group(0)) if name in VARIABLES else match.group(0)

    return _VARIABLE.sub(replace, text)


async def values_for(
    session: AsyncSession, conversation: Conversation, person_id: int | None
) -> dict[str, str]:
    """The variables' values for this conversation and the person writing."""
    workspace = await session.get(Workspace, conversation.workspace_id)
    contact = (
        await session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    )
    department = (
        await session.get(Department, conversation.department_id)
        if conversation.department_id
        else None
    )
    channel = (
        await session.get(Channel, conversation.channel_id) if conversation.channel_id else None
    )
    person = await session.get(Person, person_id) if person_id else None
    agent = person.name if person else ""
    return {
        "contact_name": (contact.name or contact.handle) if contact else "",
        "contact_handle": contact.handle if contact else "",
        "agent_name": agent,
        "agent_first_name": agent.split(" ", 1)[0],
        "workspace_name": workspace.name if workspace else "",
        "department_name": department.name if department else "",
        "channel_name": channel.name if channel else "",
    }


async def available(
    session: AsyncSession, workspace_id: int, department_id: int | None = None
) -> list[SavedReply]:
    """The workspace-wide saved replies and those of ``department_id``, by name."""
    query = select(SavedReply).where(SavedReply.workspace_id == workspace_id)
    if department_id is None:
        query = query.where(SavedReply.department_id.is_(None))
    else:
        query = query.where(
            SavedReply.department_id.is_(None) | (SavedReply.department_id == department_id)
        )
    return list(await session.scalars(query.order_by(SavedReply.name, SavedReply.id)))


async def all_of(session: AsyncSession, workspace_id: int) -> list[SavedReply]:
    return list(
        await session.scalars(
            select(SavedReply)
            .where(SavedReply.workspace_id == workspace_id)
            .order_by(SavedReply.name, SavedReply.id)
        )
    )


async def get(session: AsyncSession, workspace_id: int, saved_id: int) -> SavedReply:
    saved = await session.get(SavedReply, saved_id)
    if saved is None or saved.workspace_id != workspace_id:
        raise NotFound(saved_id)
    return saved


async def _department(session: AsyncSession, workspace_id: int, value: str) -> int | None:
    if not value:
        return None
    department = await session.get(Department, int(value)) if value.isdigit() else None
    if department is None or department.workspace_id != workspace_id:
        raise NotFound(value)
    return department.id


def _clean(name: str, text: str) -> tuple[str, str]:
    name = " ".join(name.split())
    text = text.strip()
    if not name or len(name) > MAX_NAME or not text or len(text) > MAX_TEXT:
        raise InvalidChange("saved_reply")
    return name, text


async def save(
    session: AsyncSession,
    actor: Actor,
    workspace_id: int,
    *,
    name: str,
    text: str,
    department: str = "",
    saved_id: int | None = None,
) -> SavedReply:
    """Create (``saved_id`` None) or change a saved reply; ``department`` is an id or ""."""
    name, text = _clean(name, text)
    department_id = await _department(session, workspace_id, department)
    if saved_id is None:
        saved = SavedReply(workspace_id=workspace_id, created_by=actor.person_id, name="", text="")
        session.add(saved)
        action = "saved_reply.create"
    else:
        saved = await get(session, workspace_id, saved_id)
        action = "saved_reply.update"
    saved.name, saved.text, saved.department_id = name, text, department_id
    await session.flush()
    audit.record(
        session, actor, action, "saved_reply", saved.id, workspace_id=workspace_id, name=name
    )
    return saved


async def delete(session: AsyncSession, actor: Actor, workspace_id: int, saved_id: int) -> None:
    saved = await get(session, workspace_id, saved_id)
    await session.delete(saved)
    audit.record(
        session,
        actor,
        "saved_reply.delete",
        "saved_reply",
        saved_id,
        workspace_id=workspace_id,
        name=saved.name,
    )
