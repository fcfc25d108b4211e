"""Rules applied at ingest, in the transaction that stores the messages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from allsang.db import Database
from allsang.db.models import AuditEvent, Conversation, ConversationTag
from allsang.db.models.routing import RoutingRule
from allsang.ingest.pipeline import Pipeline
from tests.routing.conftest import Place, dm


async def add_rule(db: Database, place: Place, name: str, **fields: Any) -> int:
    async with db.write() as session:
        rule = RoutingRule(workspace_id=place.workspace_id, name=name, **fields)
        session.add(rule)
        await session.flush()
        return rule.id


async def conversations(db: Database) -> list[Conversation]:
    async with db.read() as session:
        return list(await session.scalars(select(Conversation).order_by(Conversation.id)))


async def tags_of(db: Database, conversation_id: int) -> set[int]:
    async with db.read() as session:
        return set(
            await session.scalars(
                select(ConversationTag.tag_id).where(
                    ConversationTag.conversation_id == conversation_id
                )
            )
        )


async def test_the_first_matching_rule_sends_a_new_conversation_to_its_department_and_person(
    db: Database, place: Place, pipeline: Pipeline
) -> None:
    await add_rule(
        db, place, "invoices", position=1, conditions={"query": "faktura OR invoice"},
        department_id=place.sales, person_id=place.people["dag"],
    )  # fmt: skip
    await add_rule(db, place, "everything", position=2, department_id=place.support)
    await pipeline.ingest(place.channel, [dm("1", "Var är min faktura?")])
    await pipeline.ingest(place.channel, [dm("2", "Hej!", handle="@olle@example.social")])
    invoice, hello = await conversations(db)
    assert (invoice.department_id, invoice.assignee_id) == (place.sales, place.people["dag"])
    assert invoice.status == "open"  # assigning opens it, as in the inbox
    assert (hello.department_id, hello.assignee_id) == (place.support, None)
    async with db.read() as session:
        events = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "conversation.route")
            )
        )
    assert [e.actor for e in events] == ["routing", "routing"]


async def test_a_rule_that_continues_lets_later_rules_add_tags_and_priority(
    db: Database, place: Place, pipeline: Pipeline
) -> None:
    await add_rule(
        db, place, "angry", position=1, stop=False, conditions={"sentiments": ["neg"]},
        priority="high", tag_id=place.tag,
    )  # fmt: skip
    await add_rule(db, place, "support", position=2, department_id=place.support, priority="low")
    await add_rule(db, place, "never reached", position=3, department_id=place.sales)
    await pipeline.ingest(place.channel, [dm("1", "Jag är så arg")])
    (conversation,) = await conversations(db)
    assert conversation.department_id == place.support
    assert conversation.priority == "high"  # the highest priority of the matched rules
    assert await tags_of(db, conversation.id) == {place.tag}


async def test_a_later_message_escalates_priority_but_does_not_reassign(
    db: Database, place: Place, pipeline: Pipeline
) -> None:
    await add_rule(
        db, place, "angry", position=1, conditions={"sentiments": ["neg"]},
        department_id=place.sales, person_id=place.people["dag"], priority="urgent",
    )  # fmt: skip
    await pipeline.ingest(place.channel, [dm("1", "Hej, en fråga")])
    await pipeline.ingest(place.channel, [dm("2", "Nu är jag arg")])
    (conversation,) = await conversations(db)
    assert conversation.priority == "urgent"
    assert (conversation.department_id, conversation.assignee_id) == (None, None)


async def test_language_channel_handle_and_contact_conditions_must_all_hold(
    db: Database, place: Place, pipeline: Pipeline
) -> None:
    await add_rule(
        db, place, "known kari in finnish on mastodon", position=1,
        conditions={
            "languages": ["fi"], "channel_ids": [place.channel.id],
            "handles": ["kari@example.social"], "contact": "known",
        },
        department_id=place.sales,
    )  # fmt: skip
    # Kari's first conversation: not yet a known contact.
    await pipeline.ingest(place.channel, [dm("1", "Moi", lang="fi")])
    async with db.write() as session:
        first = await session.scalar(select(Conversation))
        assert first is not None
        first.status = "closed"
        first.thread_key = "dm:closed"  # so the next message opens a new conversation
    await pipeline.ingest(place.channel, [dm("2", "Hej igen", lang="sv")])
    await pipeline.ingest(place.channel, [dm("3", "Moi taas", lang="fi", handle="@eva@x.social")])
    async with db.write() as session:
        for c in await session.scalars(select(Conversation)):
            c.thread_key = f"dm:done{c.id}"
    await pipeline.ingest(place.channel, [dm("4", "Moi taas", lang="fi")])
    routed = [c.department_id for c in await conversations(db)]
    assert routed == [None, None, None, place.sales]


async def test_intent_conditions_use_the_intent_rules(
    db: Database, place: Place, pipeline: Pipeline
) -> None:
    await add_rule(
        db, place, "press", position=1, conditions={"intents": ["press"]},
        department_id=place.sales,
    )  # fmt: skip
    await pipeline.ingest(
        place.channel,
        [dm("1", "Hej, jag är journalist på Dagens Nyheter och skulle vilja ha en kommentar.")],
    )
    await pipeline.ingest(place.channel, [dm("2", "Tack för hjälpen!", handle="@o@x.social")])
    assert [c.department_id for c in await conversations(db)] == [place.sales, None]


async def test_disabled_rules_and_outbound_messages_are_not_routed(
    db: Database, place: Place, pipeline: Pipeline
) -> None:
    await add_rule(db, place, "off", position=1, enabled=False, department_id=place.sales)
    await add_rule(db, place, "on", position=2, department_id=place.support)
    await pipeline.ingest(place.channel, [dm("1", "Hej", direction="outbound")])
    await pipeline.ingest(place.channel, [dm("2", "Hej", handle="@o@x.social")])
    departments = [c.department_id for c in await conversations(db)]
    assert departments[-1] == place.support
    assert all(d is None for d in departments[:-1])
