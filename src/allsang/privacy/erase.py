"""Erase a contact on request (GDPR art. 17), and export what Allsang holds on them (art. 15).

Contract:

* :func:`erase_contact` deletes, in the caller's transaction, the contact, every message they
  wrote, every conversation they are the contact of (with the team's replies and notes in it:
  they are about the person), the quarantined raw items that name their handle, and — through
  the database's cascades — their wall items, notifications, search index rows and per-
  conversation analytics facts. Area hooks registered with :func:`on_erase` (in
  ``allsang/<area>/privacy.py``) then correct, in the same transaction, what no cascade
  reaches: aggregates that must be recounted. It returns an :class:`ErasureReport`
  (counts per kind) and writes one audit event that holds the counts and the contact's id, never
  the erased content.
* :func:`export_contact` returns a JSON-ready dict of the same data, for the person's request
  for access.

Both are scoped to one workspace: a contact is an author *as seen by one workspace*.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor, authorize
from allsang.db.models import Contact, Conversation, Message, QuarantinedItem


class ContactNotFound(LookupError):
    """No such contact in this workspace."""


@dataclass(frozen=True, slots=True)
class Erased:
    """What was just deleted, for the hooks (they run after the rows are gone, in the same
    transaction)."""

    workspace_id: int
    contact_id: int | None  # None: retention, not a person's request
    conversation_ids: list[int]  # deleted with all their messages
    touched_conversations: set[int]  # still there, but lost messages
    instants: list[datetime]  # when each deleted message was written


EraseHook = Callable[[AsyncSession, Erased], Awaitable[dict[str, int]]]
_hooks: list[EraseHook] = []


def on_erase(hook: EraseHook) -> EraseHook:
    """Register ``hook``: called inside the erasing transaction after the rows are deleted, to
    correct what no cascade reaches; returns counts for the report (kind → rows)."""
    _hooks.append(hook)
    return hook


def _load_hook_modules() -> None:
    """Import every ``allsang/<area>/privacy.py``, where areas register their hooks (the same
    convention as the jobs' ``allsang/<area>/jobs.py``)."""
    import allsang

    for package in sorted(Path(allsang.__file__).parent.iterdir()):
        if (package / "privacy.py").is_file() and (package / "__init__.py").is_file():
            importlib.import_module(f"allsang.{package.name}.privacy")


async def run_hooks(session: AsyncSession, erased: Erased) -> dict[str, int]:
    _load_hook_modules()
    counts: dict[str, int] = {}
    for hook in _hooks:
        for kind, count in (await hook(session, erased)).items():
            counts[kind] = counts.get(kind, 0) + count
    return counts


@dataclass(slots=True)
class ErasureReport:
    contact_id: int
    counts: dict[str, int] = field(default_factory=dict)


async def _contact(session: AsyncSession, workspace_id: int, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.workspace_id != workspace_id:
        raise ContactNotFound(f"no contact {contact_id} in this workspace")
    return contact


def _their_messages(workspace_id: int, contact_id: int, conversation_ids: list[int]) -> Any:
    return (Message.workspace_id == workspace_id) & or_(
        Message.contact_id == contact_id, Message.conversation_id.in_(conversation_ids)
    )


async def erase_contact(
    session: AsyncSession, actor: Actor, workspace_id: int, contact_id: int
) -> ErasureReport:
    authorize(actor, "contact.erase")
    contact = await _contact(session, workspace_id, contact_id)
    conversation_ids = list(
        await session.scalars(
            select(Conversation.id).where(
                Conversation.workspace_id == workspace_id, Conversation.contact_id == contact_id
            )
        )
    )
    where = _their_messages(workspace_id, contact_id, conversation_ids)
    rows = (
        await session.execute(
            select(Message.id, Message.conversation_id, Message.created_at).where(where)
        )
    ).all()
    quarantined = await session.execute(
        delete(QuarantinedItem).where(
            QuarantinedItem.workspace_id == workspace_id,
            QuarantinedItem.network == contact.network,
            QuarantinedItem.raw.contains(contact.handle, autoescape=True),
        )
    )
    messages = await session.execute(delete(Message).where(Message.id.in_([r.id for r in rows])))
    conversations = await session.execute(
        delete(Conversation).where(Conversation.id.in_(conversation_ids))
    )
    await session.delete(contact)
    await session.flush()
    erased = Erased(
        workspace_id=workspace_id,
        contact_id=contact_id,
        conversation_ids=conversation_ids,
        touched_conversations={
            r.conversation_id
            for r in rows
            if r.conversation_id is not None and r.conversation_id not in conversation_ids
        },
        instants=[r.created_at for r in rows],
    )
    report = ErasureReport(contact_id=contact_id, counts=await run_hooks(session, erased))
    report.counts.update(
        messages=messages.rowcount,  # type: ignore[attr-defined]
        conversations=conversations.rowcount,  # type: ignore[attr-defined]
        quarantined_items=quarantined.rowcount,  # type: ignore[attr-defined]
        contacts=1,
    )
    audit.record(
        session,
        actor,
        "contact.erase",
        "contact",
        contact_id,
        workspace_id=workspace_id,
        counts=report.counts,
    )
    return report


async def export_contact(
    session: AsyncSession, actor: Actor, workspace_id: int, contact_id: int
) -> dict[str, Any]:
    authorize(actor, "contact.export")
    contact = await _contact(session, workspace_id, contact_id)
    conversations = list(
        await session.scalars(
            select(Conversation)
            .where(Conversation.workspace_id == workspace_id, Conversation.contact_id == contact_id)
            .order_by(Conversation.id)
        )
    )
    messages = list(
        await session.scalars(
            select(Message)
            .where(_their_messages(workspace_id, contact_id, [c.id for c in conversations]))
            .order_by(Message.created_at, Message.id)
        )
    )
    audit.record(session, actor, "contact.export", "contact", contact_id, workspace_id=workspace_id)
    return {
        "contact": {
            "id": contact.id,
            "network": contact.network,
            "handle": contact.handle,
            "name": contact.name,
            "url": contact.url,
            "profile": contact.profile,
            "first_seen": _iso(contact.created_at),
        },
        "conversations": [
            {
                "id": c.id,
                "subject": c.subject,
                "status": c.status,
                "created_at": _iso(c.created_at),
                "last_message_at": _iso(c.last_message_at),
            }
            for c in conversations
        ],
        "messages": [
            {
                "id": m.id,
                "conversation_id": m.conversation_id,
                "direction": m.direction,
                "by_contact": m.contact_id == contact_id,
                "created_at": _iso(m.created_at),
                "url": m.url,
                "text": m.text,
                "language": m.lang,
                "sentiment": m.sentiment,
            }
            for m in messages
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
