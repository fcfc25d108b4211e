"""Conversations shaped like the demo workspace's: a Mastodon channel, contacts writing in
Swedish, Norwegian and English, with language and sentiment set as the listening enricher
would."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from allsang.db import Database
from allsang.db.models import Channel, Contact, Conversation, Message

BASE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Seeded:
    channel: Channel
    conversations: list[Conversation] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


THREADS = [
    # handle, name, text, lang, sentiment
    (
        "anna@mastodon.example",
        "Anna Berg",
        "Hej! Var kan jag hitta öppettiderna i jul?",
        "sv",
        "neu",
    ),
    (
        "ola@mastodon.example",
        "Ola Nordmann",
        "Bestillingen min kom aldri frem. Veldig skuffet.",
        "nb",
        "neg",
    ),
    (
        "kim@mastodon.example",
        "Kim",
        "<script>alert(1)</script> Thanks, the new app is great!",
        "en",
        "pos",
    ),
]


async def seed(db: Database, workspace_id: int, *, network: str = "mastodon") -> Seeded:
    """Three waiting conversations, one inbound message each, one minute apart (newest last)."""
    async with db.write() as session:
        channel = Channel(
            workspace_id=workspace_id,
            network=network,
            name="Acme on Mastodon",
            account="@acme@mastodon.example",
            config={"instance": "https://mastodon.example"},
        )
        session.add(channel)
        await session.flush()
        result = Seeded(channel)
        for n, (handle, name, text, lang, sentiment) in enumerate(THREADS):
            at = BASE + timedelta(minutes=n)
            contact = Contact(workspace_id=workspace_id, network=network, handle=handle, name=name)
            session.add(contact)
            await session.flush()
            conversation = Conversation(
                workspace_id=workspace_id,
                channel_id=channel.id,
                contact_id=contact.id,
                thread_key=f"root:{100 + n}",
                subject=text[:60],
                waiting_since=at,
                last_message_at=at,
            )
            session.add(conversation)
            await session.flush()
            message = Message(
                workspace_id=workspace_id,
                channel_id=channel.id,
                conversation_id=conversation.id,
                contact_id=contact.id,
                direction="inbound",
                kind="reply",
                external_id=str(100 + n),
                url=f"https://mastodon.example/@x/{100 + n}",
                text=text + "\nsecond line",
                lang=lang,
                sentiment=sentiment,
                created_at=at,
            )
            session.add(message)
            await session.flush()
            result.conversations.append(conversation)
            result.messages.append(message)
    return result
