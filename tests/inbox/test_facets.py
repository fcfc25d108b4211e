"""The facts kept per conversation (migration 0015) answer every filter and status count
exactly as reading the messages and documents directly does, whoever changed the data:
ingest, a reply, a re-enrichment, a status change, a privacy erase, a deletion."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, exists, func, select, update

from allsang.authz import Actor
from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.models import (
    CONVERSATION_STATUSES,
    Conversation,
    Message,
    Workspace,
)
from allsang.db.models.inbox_facets import InboxStatusCount
from allsang.db.models.inbox_search import InboxSearchDoc
from allsang.inbox import facets, listing, search
from allsang.inbox.listing import InboxFilter
from allsang.ingest.pipeline import ChannelRef, Enrichment, Pipeline
from allsang.listening.intent import INTENTS
from allsang.privacy.erase import erase_contact
from tests.inbox.seed import BASE, Seeded, seed

LANGUAGES = ("sv", "nb", "da", "en", "fi")
SENTIMENTS = ("pos", "neu", "neg")


@pytest.fixture
async def seeded(db: Database) -> tuple[int, Seeded]:
    async with db.write() as session:
        workspace = Workspace(slug="acme", name="Acme")
        session.add(workspace)
        await session.flush()
        workspace_id = workspace.id
    return workspace_id, await seed(db, workspace_id)


def _filters() -> list[dict[str, str]]:
    found: list[dict[str, str]] = [{}, {"unanswered": "1"}]
    found += [{"language": lang} for lang in LANGUAGES]
    found += [{"sentiment": s} for s in SENTIMENTS]
    found += [{"intent": i} for i in INTENTS]
    found += [{"sentiment": "neg", "language": "nb"}, {"unanswered": "1", "sentiment": "pos"}]
    return found


def _direct(workspace_id: int, params: dict[str, str]) -> Any:
    """The conversations a filter means, from the messages and documents themselves."""
    query = select(Conversation.id, Conversation.status).where(
        Conversation.workspace_id == workspace_id, Conversation.last_message_at.is_not(None)
    )
    inbound = [Message.conversation_id == Conversation.id, Message.direction == "inbound"]
    if params.get("unanswered"):
        query = query.where(Conversation.waiting_since.is_not(None))
    if "language" in params:
        query = query.where(exists().where(*inbound, Message.lang == params["language"]))
    if "sentiment" in params:
        query = query.where(exists().where(*inbound, Message.sentiment == params["sentiment"]))
    if "intent" in params:
        query = query.where(
            exists().where(
                InboxSearchDoc.conversation_id == Conversation.id,
                InboxSearchDoc.intent == params["intent"],
            )
        )
    return query


async def _assert_every_filter_agrees(db: Database, workspace_id: int) -> None:
    await search.ensure_current(db)
    async with db.read() as session:
        for params in _filters():
            expected = (await session.execute(_direct(workspace_id, params))).all()
            f = InboxFilter.from_query(params)
            page = await listing.list_inbox(session, workspace_id, None, f, limit=1000)
            shown = sorted(row.conversation.id for row in page.rows)
            assert shown == sorted(cid for cid, _ in expected), params
            counted = {
                s: sum(1 for _, status in expected if status == s) for s in CONVERSATION_STATUSES
            }
            assert page.counts == counted, params


async def _message(db: Database, data: Seeded, n: int, **fields: Any) -> int:
    conversation = data.conversations[n]
    async with db.write() as session:
        message = Message(
            workspace_id=conversation.workspace_id,
            channel_id=data.channel.id,
            conversation_id=conversation.id,
            contact_id=conversation.contact_id,
            kind="reply",
            created_at=BASE + timedelta(hours=1),
            **fields,
        )
        session.add(message)
        await session.flush()
        return message.id


async def test_filters_and_counts_agree_with_the_messages_through_every_kind_of_change(
    db: Database, seeded: tuple[int, Seeded]
) -> None:
    workspace_id, data = seeded
    await _assert_every_filter_agrees(db, workspace_id)

    # A second inbound message adds its language and sentiment to the conversation.
    second = await _message(
        db, data, 0, direction="inbound", text="Pakken er ødelagt!", lang="nb", sentiment="neg"
    )
    await _assert_every_filter_agrees(db, workspace_id)

    # A reply (outbound) adds nothing and the conversation stops waiting.
    await _message(db, data, 1, direction="outbound", text="Vi ser på det.", lang="nb")
    async with db.write() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == data.conversations[1].id)
            .values(waiting_since=None, first_reply_at=BASE + timedelta(hours=1))
        )
    await _assert_every_filter_agrees(db, workspace_id)

    # Re-enrichment changes a message's language and sentiment: the old ones go unless
    # another inbound message still has them.
    async with db.write() as session:
        await session.execute(
            update(Message).where(Message.id == second).values(lang="da", sentiment="pos")
        )
        await session.execute(
            update(Message)
            .where(Message.id == data.messages[2].id)
            .values(lang="sv", text="Leveransen kom aldrig, jag är arg")
        )
    await _assert_every_filter_agrees(db, workspace_id)

    # Status changes move the counts between tabs.
    async with db.write() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == data.conversations[0].id)
            .values(status="closed")
        )
        await session.execute(
            update(Conversation)
            .where(Conversation.id == data.conversations[2].id)
            .values(status="pending")
        )
    await _assert_every_filter_agrees(db, workspace_id)

    # A message deleted on its own, then a conversation deleted with its messages.
    async with db.write() as session:
        await session.execute(delete(Message).where(Message.id == second))
    await _assert_every_filter_agrees(db, workspace_id)
    async with db.write() as session:
        await session.execute(
            delete(Conversation).where(Conversation.id == data.conversations[1].id)
        )
    await _assert_every_filter_agrees(db, workspace_id)


async def test_a_privacy_erase_takes_the_contacts_facts_and_counts_with_it(
    db: Database, seeded: tuple[int, Seeded]
) -> None:
    workspace_id, data = seeded
    admin = Actor(kind="person", label="admin", workspace_id=workspace_id, role="admin")
    async with db.write() as session:
        await erase_contact(session, admin, workspace_id, data.conversations[1].contact_id or 0)
    await _assert_every_filter_agrees(db, workspace_id)
    async with db.read() as session:
        counts = await facets.counts(session, workspace_id, ("lang", "nb"))
    assert sum(counts.values()) == 0


async def test_ingest_keeps_the_facts_in_its_own_transaction(
    db: Database, seeded: tuple[int, Seeded]
) -> None:
    workspace_id, data = seeded
    channel = ChannelRef(id=data.channel.id, workspace_id=workspace_id, network="mastodon")

    def raw(external_id: str, text: str, **extra: Any) -> RawItem:
        return RawItem(
            {
                "channel": "mastodon",
                "external_id": external_id,
                "kind": "post",
                "author": {"handle": f"@p{external_id}@example.social", "name": "P"},
                "text": text,
                "created_at": f"2026-11-21T10:00:{int(external_id) % 60:02d}+00:00",
                **extra,
            }
        )

    def enrich(messages: Any) -> list[Enrichment]:
        return [Enrichment(lang="fi", sentiment="neg") for _ in messages]

    await Pipeline(db, enrichers=[enrich]).ingest(
        channel,
        [
            raw("501", "Missä tilaukseni on?", addressed=True),
            raw("502", "Vastaus", in_reply_to="501"),
            raw("503", "Kiitos", addressed=True),
        ],
    )
    await _assert_every_filter_agrees(db, workspace_id)
    async with db.read() as session:
        assert (await facets.counts(session, workspace_id, ("lang", "fi")))["new"] == 2


async def test_compacting_the_counts_keeps_their_sums(
    db: Database, seeded: tuple[int, Seeded]
) -> None:
    workspace_id, data = seeded
    for status in ("open", "closed", "open", "pending"):
        async with db.write() as session:
            await session.execute(
                update(Conversation)
                .where(Conversation.id == data.conversations[0].id)
                .values(status=status)
            )
    async with db.read() as session:
        before = await facets.counts(session, workspace_id, ("all", ""))
        rows_before = await session.scalar(select(func.count()).select_from(InboxStatusCount))
    async with db.write() as session:
        assert await facets.compact(session) == rows_before
    async with db.read() as session:
        assert await facets.counts(session, workspace_id, ("all", "")) == before
        rows_after = await session.scalar(select(func.count()).select_from(InboxStatusCount))
    assert before == {"new": 2, "open": 0, "pending": 1, "snoozed": 0, "closed": 0}
    assert rows_after is not None and rows_before is not None and rows_after < rows_before
