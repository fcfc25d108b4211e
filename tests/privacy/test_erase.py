"""Erasing a contact on request, and exporting what is stored about them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from allsang.analytics import aggregate
from allsang.authz import Actor, Forbidden
from allsang.db.models import AuditEvent, Contact, Conversation, Message, QuarantinedItem
from allsang.db.models.inbox_search import InboxSearchDoc
from allsang.db.types import utcnow
from allsang.inbox import search
from allsang.privacy.erase import ContactNotFound, erase_contact, export_contact
from allsang.runtime import Runtime
from tests.analytics.test_incremental import _snapshot
from tests.privacy.history import build


def admin(workspace_id: int) -> Actor:
    return Actor(kind="person", label="admin", workspace_id=workspace_id, role="admin")


async def test_it_erases_the_contact_their_messages_and_their_conversations_only(
    runtime: Runtime,
) -> None:
    history = await build(runtime, utcnow())
    async with runtime.db.write() as session:
        report = await erase_contact(
            session, admin(history.workspace_id), history.workspace_id, history.kari
        )
    # Kari's conversation (3 messages) plus her reply in Ola's thread.
    assert report.counts == {
        "messages": 4,
        "conversations": 1,
        "quarantined_items": 1,
        "contacts": 1,
        "analytics_days_recounted": 1,
    }
    async with runtime.db.read() as session:
        assert await session.get(Contact, history.kari) is None
        assert await session.get(Conversation, history.karis_conversation) is None
        left = list(await session.scalars(select(Message.text).order_by(Message.id)))
        assert left == [
            "inbound about @ola@example.social",
            "outbound about @ola@example.social",
            "note about @ola@example.social",
        ]
        assert await session.scalar(select(func.count()).select_from(QuarantinedItem)) == 0
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "contact.erase"))
        assert event is not None
        assert "kari" not in str(event.data)  # the audit log keeps counts, not content


async def test_only_admins_may_erase_and_only_in_their_workspace(runtime: Runtime) -> None:
    history = await build(runtime, utcnow())
    editor = Actor(kind="person", label="e", workspace_id=history.workspace_id, role="editor")
    async with runtime.db.write() as session:
        with pytest.raises(Forbidden):
            await erase_contact(session, editor, history.workspace_id, history.kari)
        with pytest.raises(ContactNotFound):
            await erase_contact(
                session, admin(history.workspace_id + 1), history.workspace_id + 1, history.kari
            )


async def test_an_export_holds_their_profile_conversations_and_messages(
    runtime: Runtime,
) -> None:
    history = await build(runtime, utcnow())
    async with runtime.db.write() as session:
        data = await export_contact(
            session, admin(history.workspace_id), history.workspace_id, history.kari
        )
    assert data["contact"]["handle"] == "@kari@example.social"
    assert [c["id"] for c in data["conversations"]] == [history.karis_conversation]
    texts = {m["text"] for m in data["messages"]}
    assert texts == {
        "inbound about @kari@example.social",
        "outbound about @kari@example.social",
        "note about @kari@example.social",
        "Me too!",
    }
    assert [m["by_contact"] for m in data["messages"]].count(True) == 2


async def test_the_search_index_forgets_the_erased_contact(runtime: Runtime) -> None:
    history = await build(runtime, utcnow())
    await search.catch_up_all(runtime.db)

    async def found(words: str) -> set[int]:
        async with runtime.db.read() as session:
            query = search.matches(
                session.bind.dialect.name,  # type: ignore[union-attr]
                history.workspace_id,
                search.parse_search(words),
            )
            return {row[0] for row in await session.execute(query)}

    assert await found("nordmann") == {history.karis_conversation}
    assert await found('"me too"') == {history.olas_conversation}  # her reply in Ola's thread
    async with runtime.db.write() as session:
        await erase_contact(
            session, admin(history.workspace_id), history.workspace_id, history.kari
        )
    await search.catch_up_all(runtime.db)
    assert await found("nordmann") == set()
    assert await found('"me too"') == set()
    assert await found("hansen") == {history.olas_conversation}
    async with runtime.db.read() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(InboxSearchDoc)
            .where(InboxSearchDoc.conversation_id == history.karis_conversation)
        )
    assert left == 0


async def test_the_analytics_after_an_erasure_are_what_a_rebuild_would_count(
    runtime: Runtime,
) -> None:
    history = await build(runtime, utcnow() - timedelta(days=2))
    await aggregate.rebuild(runtime.db, history.workspace_id)
    before = await _snapshot(runtime.db, history.workspace_id)
    async with runtime.db.write() as session:
        await erase_contact(
            session, admin(history.workspace_id), history.workspace_id, history.kari
        )
    erased = await _snapshot(runtime.db, history.workspace_id)
    assert erased != before
    await aggregate.rebuild(runtime.db, history.workspace_id)
    assert await _snapshot(runtime.db, history.workspace_id) == erased
