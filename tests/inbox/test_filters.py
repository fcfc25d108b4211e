"""The inbox list's content filters: intent, SLA breached, listening query, department and tag,
each alone and combined, in the query string and in saved views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import update

from allsang.db import Database
from allsang.db.models import (
    Conversation,
    ConversationTag,
    Department,
    Person,
    Tag,
    Workspace,
)
from allsang.inbox import listing, search
from allsang.inbox.listing import InboxFilter
from allsang.listening.query import QuerySyntaxError
from tests.inbox.seed import Seeded, seed

# The seed: 0 Swedish question (anna), 1 Norwegian complaint (ola), 2 English praise (kim).


@pytest.fixture
async def seeded(db: Database) -> tuple[int, Seeded]:
    async with db.write() as session:
        workspace = Workspace(slug="acme", name="Acme")
        session.add(workspace)
        await session.flush()
        workspace_id = workspace.id
    return workspace_id, await seed(db, workspace_id)


async def _shown(db: Database, workspace_id: int, **params: str) -> list[int]:
    f = InboxFilter.from_query(params)
    if f.uses_index:
        await search.ensure_current(db)
    async with db.read() as session:
        page = await listing.list_inbox(session, workspace_id, None, f)
    return [row.conversation.id for row in page.rows]


def _ids(seeded: Seeded, *numbers: int) -> list[int]:
    return [seeded.conversations[n].id for n in numbers]


async def test_the_intent_filter_uses_the_intent_of_inbound_messages(
    db: Database, seeded: tuple[int, Seeded]
) -> None:
    workspace_id, data = seeded
    assert await _shown(db, workspace_id, intent="question") == _ids(data, 0)
    assert await _shown(db, workspace_id, intent="complaint") == _ids(data, 1)
    assert await _shown(db, workspace_id, intent="praise") == _ids(data, 2)
    assert await _shown(db, workspace_id, intent="press") == []


async def test_the_sla_filter_shows_missed_and_overdue_targets(
    db: Database, seeded: tuple[int, Seeded]
) -> None:
    workspace_id, data = seeded
    now = datetime.now(UTC)
    first, second, third = data.conversations
    async with db.write() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == first.id)
            .values(sla_due_at=now - timedelta(minutes=5))
        )
        await session.execute(
            update(Conversation)
            .where(Conversation.id == second.id)
            .values(sla_due_at=now + timedelta(hours=1))
        )
        await session.execute(
            update(Conversation)
            .where(Conversation.id == third.id)
            .values(sla_breached_at=now - timedelta(hours=1))
        )
    assert await _shown(db, workspace_id, sla_breached="1") == [third.id, first.id]


async def test_the_listening_query_filter_matches_inbound_messages(
    db: Database, seeded: tuple[int, Seeded]
) -> None:
    workspace_id, data = seeded
    assert await _shown(db, workspace_id, query="öppettiderna OR bestillingen") == _ids(data, 1, 0)
    assert await _shown(db, workspace_id, query="lang:no") == _ids(data, 1)
    assert await _shown(db, workspace_id, query='"new app" sentiment:pos') == _ids(data, 2)
    assert await _shown(db, workspace_id, query="-lang:en") == _ids(data, 1, 0)
    assert await _shown(db, workspace_id, query="author:anna@mastodon.example") == _ids(data, 0)
    assert await _shown(db, workspace_id, query="saab") == []
    assert await _shown(db, workspace_id, query="lang:no", status="closed") == []


async def test_a_bad_listening_query_says_where_it_goes_wrong(
    db: Database, seeded: tuple[int, Seeded]
) -> None:
    workspace_id, _data = seeded
    with pytest.raises(QuerySyntaxError) as caught:
        await _shown(db, workspace_id, query="volvo AND (saab")
    assert caught.value.column == 11
    assert "never closed" in caught.value.reason


async def test_department_and_tag_filters_combine_with_search_and_intent(
    db: Database, seeded: tuple[int, Seeded]
) -> None:
    workspace_id, data = seeded
    first, second, _third = data.conversations
    async with db.write() as session:
        department = Department(workspace_id=workspace_id, name="Kundservice")
        tag = Tag(workspace_id=workspace_id, name="leverans")
        session.add_all([department, tag])
        await session.flush()
        department_id, tag_id = department.id, tag.id
        await session.execute(
            update(Conversation)
            .where(Conversation.id.in_([first.id, second.id]))
            .values(department_id=department_id)
        )
        session.add(ConversationTag(conversation_id=second.id, tag_id=tag_id))
    department_param = str(department_id)
    assert await _shown(db, workspace_id, department=department_param) == _ids(data, 1, 0)
    assert await _shown(db, workspace_id, tag=str(tag_id)) == _ids(data, 1)
    assert await _shown(db, workspace_id, department=department_param, intent="complaint") == _ids(
        data, 1
    )
    assert await _shown(db, workspace_id, department=department_param, q="öppettiderna") == _ids(
        data, 0
    )
    assert await _shown(db, workspace_id, tag=str(tag_id), q="öppettiderna") == []


async def test_status_counts_follow_the_content_filters(
    db: Database, seeded: tuple[int, Seeded]
) -> None:
    workspace_id, _data = seeded
    await search.ensure_current(db)
    async with db.read() as session:
        page = await listing.list_inbox(
            session, workspace_id, None, InboxFilter.from_query({"q": "skuffet"})
        )
    assert page.counts["new"] == 1 and sum(page.counts.values()) == 1


def test_the_new_filters_round_trip_through_the_query_string() -> None:
    f = InboxFilter.from_query(
        {
            "q": '  leverans   "kom aldrig" ',
            "sort": "date",
            "intent": "complaint",
            "sla_breached": "1",
            "query": "volvo NEAR/3 saab",
        }
    )
    assert f.q == 'leverans "kom aldrig"' and f.sort == "date" and f.intent == "complaint"
    assert InboxFilter.from_query(dict(parse_qsl(f.query_string()))) == f
    assert InboxFilter.from_query({"intent": "spam", "sort": "random"}) == InboxFilter()
    assert InboxFilter.from_query({"q": "x" * 501}).q == ""


async def test_a_saved_view_keeps_search_and_query_filters(
    db: Database, seeded: tuple[int, Seeded]
) -> None:
    workspace_id, _data = seeded
    async with db.write() as session:
        person = Person(email="anna@example.org", name="Anna", password_hash="x")
        session.add(person)
        await session.flush()
        f = InboxFilter.from_query({"q": "leverans", "intent": "complaint", "query": "lang:no"})
        view = await listing.save_view(session, workspace_id, person.id, "Norska klagomål", f)
    assert view.query == "intent=complaint&q=leverans&query=lang%3Ano"
