"""Full-text search of the inbox: stemming per language, phrases, ranking, and an index that
follows every writer (ingest, replies and notes through the app, crashes, reindex)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from allsang.authz import Actor
from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.models import Channel, Contact, Conversation, Message, Workspace
from allsang.db.models.inbox_search import InboxSearchDoc, InboxSearchPending
from allsang.inbox import listing, search
from allsang.inbox.actions import add_note
from allsang.inbox.listing import InboxFilter
from allsang.ingest.pipeline import ChannelRef, Pipeline

BASE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def _workspace(db: Database) -> tuple[int, int]:
    async with db.write() as session:
        workspace = Workspace(slug="acme", name="Acme")
        session.add(workspace)
        await session.flush()
        channel = Channel(workspace_id=workspace.id, network="mastodon", name="Acme")
        session.add(channel)
        await session.flush()
        return workspace.id, channel.id


async def _conversation(
    db: Database,
    workspace_id: int,
    channel_id: int,
    text: str,
    lang: str | None,
    *,
    handle: str = "someone@example",
    name: str = "",
    subject: str = "",
    minutes: int = 0,
) -> int:
    """A conversation with one inbound message, written through the ORM as the app does."""
    async with db.write() as session:
        contact = await session.scalar(
            select(Contact).where(Contact.workspace_id == workspace_id, Contact.handle == handle)
        )
        if contact is None:
            contact = Contact(
                workspace_id=workspace_id, network="mastodon", handle=handle, name=name
            )
            session.add(contact)
            await session.flush()
        at = BASE + timedelta(minutes=minutes)
        conversation = Conversation(
            workspace_id=workspace_id,
            channel_id=channel_id,
            contact_id=contact.id,
            subject=subject,
            waiting_since=at,
            last_message_at=at,
        )
        session.add(conversation)
        await session.flush()
        session.add(
            Message(
                workspace_id=workspace_id,
                channel_id=channel_id,
                conversation_id=conversation.id,
                contact_id=contact.id,
                direction="inbound",
                text=text,
                lang=lang,
                created_at=at,
            )
        )
        return conversation.id


async def _found(db: Database, workspace_id: int, q: str, **filters: str) -> list[int]:
    """Conversation ids the inbox list shows for the search ``q``, best match first."""
    await search.ensure_current(db)
    async with db.read() as session:
        page = await listing.list_inbox(
            session, workspace_id, None, InboxFilter.from_query({"q": q, **filters})
        )
    return [row.conversation.id for row in page.rows]


@pytest.mark.parametrize(
    ("lang", "stored", "query"),
    [
        ("sv", "Leveransen kom aldrig fram", "leveranser"),
        ("sv", "Var är min leverans?", "leveranser"),
        ("nb", "Bestillingene mine er forsinket", "bestilling"),
        ("nn", "Vi ventar på bestillingane", "bestillingar"),
        ("da", "Pakkerne blev leveret i går", "pakke"),
        ("fi", "Laskuni on väärin", "laskusta"),
        ("en", "The deliveries were late again", "delivery"),
    ],
)
async def test_a_word_finds_its_other_forms_in_the_messages_language(
    db: Database, lang: str, stored: str, query: str
) -> None:
    workspace_id, channel_id = await _workspace(db)
    wanted = await _conversation(db, workspace_id, channel_id, stored, lang)
    await _conversation(db, workspace_id, channel_id, "Något helt annat", "sv", minutes=1)
    assert await _found(db, workspace_id, query) == [wanted]


async def test_a_message_in_another_language_is_matched_on_its_words_only(db: Database) -> None:
    workspace_id, channel_id = await _workspace(db)
    wanted = await _conversation(db, workspace_id, channel_id, "Hola leveranser", "es")
    assert await _found(db, workspace_id, "leveranser") == [wanted]
    assert await _found(db, workspace_id, "leverans") == []


async def test_a_quoted_phrase_needs_its_words_in_order(db: Database) -> None:
    workspace_id, channel_id = await _workspace(db)
    in_order = await _conversation(db, workspace_id, channel_id, "Min order kom aldrig", "sv")
    await _conversation(db, workspace_id, channel_id, "Kom min order aldrig?", "sv", minutes=1)
    assert await _found(db, workspace_id, '"order kom"') == [in_order]
    assert sorted(await _found(db, workspace_id, "order kom")) == sorted([in_order, in_order + 1])


async def test_every_word_must_match_and_diacritics_count(db: Database) -> None:
    workspace_id, channel_id = await _workspace(db)
    both = await _conversation(db, workspace_id, channel_id, "Öppettider i jul", "sv")
    await _conversation(db, workspace_id, channel_id, "Oppettider i påsk", "sv", minutes=1)
    assert await _found(db, workspace_id, "öppettider jul") == [both]
    assert await _found(db, workspace_id, "öppettider påsk") == []


async def test_contact_names_handles_and_subjects_are_searchable(db: Database) -> None:
    workspace_id, channel_id = await _workspace(db)
    anna = await _conversation(
        db, workspace_id, channel_id, "Hej", "sv", handle="anna@social.example", name="Anna Berg"
    )
    subject = await _conversation(
        db, workspace_id, channel_id, "Hej", "sv", subject="Faktura 4711", minutes=1
    )
    assert await _found(db, workspace_id, "berg") == [anna]
    assert await _found(db, workspace_id, "anna@social.example") == [anna]
    assert await _found(db, workspace_id, "4711") == [subject]
    async with db.write() as session:
        await session.execute(
            update(Contact).where(Contact.handle == "anna@social.example").values(name="Anna Lind")
        )
    assert await _found(db, workspace_id, "berg") == []
    assert await _found(db, workspace_id, "lind") == [anna]


async def test_results_come_best_match_first_or_newest_first(db: Database) -> None:
    workspace_id, channel_id = await _workspace(db)
    many = await _conversation(
        db, workspace_id, channel_id, "Faktura faktura faktura, fakturan igen", "sv"
    )
    once = await _conversation(
        db,
        workspace_id,
        channel_id,
        "En lång text om mycket annat där en faktura nämns en enda gång bland många andra ord",
        "sv",
        minutes=1,
    )
    assert await _found(db, workspace_id, "faktura") == [many, once]
    assert await _found(db, workspace_id, "faktura", sort="date") == [once, many]


async def test_only_the_newest_hits_are_scored_but_every_match_is_listed_and_counted(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace_id, channel_id = await _workspace(db)
    old_strong = await _conversation(db, workspace_id, channel_id, "Faktura faktura faktura", "sv")
    older_weak = await _conversation(
        db, workspace_id, channel_id, "En lång text där en faktura nämns en gång", "sv", minutes=1
    )
    newest_weak = await _conversation(
        db, workspace_id, channel_id, "Ännu en lång text där en faktura nämns", "sv", minutes=2
    )
    assert (await _found(db, workspace_id, "faktura"))[0] == old_strong
    monkeypatch.setattr(search, "RANKED", 1)  # only the newest hit is scored
    assert await _found(db, workspace_id, "faktura") == [newest_weak, older_weak, old_strong]
    async with db.read() as session:
        page = await listing.list_inbox(
            session, workspace_id, None, InboxFilter.from_query({"q": "faktura"})
        )
    assert page.counts["new"] == 3


async def _page(db: Database, workspace_id: int, **params: str) -> listing.InboxPage:
    await search.ensure_current(db)
    async with db.read() as session:
        return await listing.list_inbox(session, workspace_id, None, InboxFilter.from_query(params))


async def test_a_search_with_more_hits_than_the_cap_lists_and_counts_only_the_newest(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace_id, channel_id = await _workspace(db)
    oldest = await _conversation(db, workspace_id, channel_id, "Faktura faktura faktura", "sv")
    middle = await _conversation(
        db, workspace_id, channel_id, "En text där en faktura nämns", "sv", minutes=1
    )
    newest = await _conversation(
        db, workspace_id, channel_id, "Ännu en text där en faktura nämns", "sv", minutes=2
    )
    async with db.write() as session:
        await session.execute(
            update(Conversation).where(Conversation.id == middle).values(status="closed")
        )
    monkeypatch.setattr(search, "CAPPED", 2)
    page = await _page(db, workspace_id, q="faktura")
    assert page.counts_capped
    # The best match (the oldest, "faktura" three times) is beyond the newest two hits.
    assert {row.conversation.id for row in page.rows} == {newest, middle}
    assert (page.counts["new"], page.counts["closed"]) == (1, 1)
    by_date = await _page(db, workspace_id, q="faktura", sort="date")
    assert [row.conversation.id for row in by_date.rows] == [newest, middle]
    assert by_date.counts_capped
    closed = await _page(db, workspace_id, q="faktura", status="closed")
    assert [row.conversation.id for row in closed.rows] == [middle]
    assert closed.counts_capped
    # At the cap, nothing is left out: the same search is exact again.
    monkeypatch.setattr(search, "CAPPED", 3)
    page = await _page(db, workspace_id, q="faktura")
    assert not page.counts_capped
    assert page.rows[0].conversation.id == oldest
    assert (page.counts["new"], page.counts["closed"]) == (2, 1)
    by_date = await _page(db, workspace_id, q="faktura", sort="date")
    assert [row.conversation.id for row in by_date.rows] == [newest, middle, oldest]


async def test_the_cap_counts_only_the_workspaces_own_hits(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace_id, channel_id = await _workspace(db)
    first = await _conversation(db, workspace_id, channel_id, "Leveransen är sen", "sv")
    second = await _conversation(db, workspace_id, channel_id, "Leveransen kom", "sv", minutes=1)
    async with db.write() as session:
        other = Workspace(slug="other", name="Other")
        session.add(other)
        await session.flush()
        other_channel = Channel(workspace_id=other.id, network="mastodon", name="Other")
        session.add(other_channel)
        await session.flush()
        other_ids = (other.id, other_channel.id)
    for minutes in (2, 3, 4):  # newer hits, in another workspace
        await _conversation(db, *other_ids, "Leveransen igen", "sv", minutes=minutes)
    monkeypatch.setattr(search, "CAPPED", 2)
    page = await _page(db, workspace_id, q="leveransen", sort="date")
    assert [row.conversation.id for row in page.rows] == [second, first]
    assert not page.counts_capped
    assert (await _page(db, other_ids[0], q="leveransen")).counts_capped


async def test_search_combines_with_the_other_filters(db: Database) -> None:
    workspace_id, channel_id = await _workspace(db)
    swedish = await _conversation(db, workspace_id, channel_id, "Leveransen är sen", "sv")
    await _conversation(db, workspace_id, channel_id, "Leveransen er sen", "nb", minutes=1)
    assert await _found(db, workspace_id, "leveransen", language="sv") == [swedish]


async def test_the_index_follows_ingest(db: Database) -> None:
    workspace_id, channel_id = await _workspace(db)
    await Pipeline(db).ingest(
        ChannelRef(channel_id, workspace_id, "mastodon"),
        [
            RawItem(
                {
                    "channel": "mastodon",
                    "external_id": "1",
                    "direction": "inbound",
                    "kind": "dm",
                    "author": {"handle": "ola@example", "name": "Ola"},
                    "text": "Hvor er pakkene mine?",
                    "lang": "nb",
                    "created_at": BASE.isoformat(),
                }
            )
        ],
    )
    async with db.read() as session:
        queued = await session.scalar(select(func.count()).select_from(InboxSearchPending))
    assert queued and queued >= 2  # the message and its new conversation, in ingest's commit
    found = await _found(db, workspace_id, "pakke")
    assert len(found) == 1


async def test_notes_and_replies_written_through_the_app_are_found(db: Database) -> None:
    workspace_id, channel_id = await _workspace(db)
    conversation_id = await _conversation(db, workspace_id, channel_id, "Hej", "sv")
    async with db.write() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None
        actor = Actor(kind="system", label="test", workspace_id=workspace_id)
        await add_note(session, actor, conversation, "Kunden vill ha återbetalning")
    assert await _found(db, workspace_id, "återbetalningen") == [conversation_id]


async def test_a_crash_before_indexing_loses_nothing_and_reindex_rebuilds(db: Database) -> None:
    workspace_id, channel_id = await _workspace(db)
    first = await _conversation(db, workspace_id, channel_id, "Fakturorna är fel", "sv")
    # Nothing indexed yet: the queue rows were committed with the message.
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(InboxSearchDoc)) == 0
    assert await _found(db, workspace_id, "faktura") == [first]
    # A lost index (documents gone, queue empty) comes back with reindex.
    async with db.write() as session:
        await session.execute(delete(InboxSearchDoc))
    assert await _found(db, workspace_id, "faktura") == []
    indexed = await search.reindex(db)
    assert indexed == 2  # one message, one conversation
    assert await _found(db, workspace_id, "faktura") == [first]


async def test_a_changed_or_deleted_message_changes_the_index(db: Database) -> None:
    workspace_id, channel_id = await _workspace(db)
    conversation_id = await _conversation(db, workspace_id, channel_id, "Fakturorna är fel", "sv")
    assert await _found(db, workspace_id, "faktura") == [conversation_id]
    async with db.write() as session:
        await session.execute(update(Message).values(text="Leveransen är sen"))
    assert await _found(db, workspace_id, "faktura") == []
    assert await _found(db, workspace_id, "leverans") == [conversation_id]
    async with db.write() as session:
        await session.execute(delete(Message))
    assert await _found(db, workspace_id, "leverans") == []


async def test_a_search_of_punctuation_only_finds_nothing(db: Database) -> None:
    workspace_id, channel_id = await _workspace(db)
    await _conversation(db, workspace_id, channel_id, "Hej", "sv")
    assert await _found(db, workspace_id, '" ... !') == []


async def test_the_ingest_hook_indexes_in_the_background(db: Database) -> None:
    workspace_id, channel_id = await _workspace(db)
    pipeline = Pipeline(db, on_commit=[search.commit_hook(db)])
    await pipeline.ingest(
        ChannelRef(channel_id, workspace_id, "mastodon"),
        [
            RawItem(
                {
                    "channel": "mastodon",
                    "external_id": "7",
                    "direction": "inbound",
                    "kind": "dm",
                    "author": {"handle": "mette@example", "name": "Mette"},
                    "text": "Hvornår kommer pakkerne?",
                    "lang": "da",
                    "created_at": BASE.isoformat(),
                }
            )
        ],
    )
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        async with db.read() as session:
            if not await search.has_pending(session):
                break
        assert asyncio.get_running_loop().time() < deadline, "the queue was never drained"
        await asyncio.sleep(0.02)
    async with db.read() as session:
        page = await listing.list_inbox(
            session, workspace_id, None, InboxFilter.from_query({"q": "pakke"})
        )
    assert [row.contact.handle for row in page.rows if row.contact] == ["mette@example"]
