"""A small hand-built history: two contacts, their conversations, the team's replies and notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from allsang.db.models import Channel, Contact, Conversation, Message, QuarantinedItem, Workspace
from allsang.runtime import Runtime


@dataclass
class History:
    workspace_id: int
    channel_id: int
    kari: int  # contact ids
    ola: int
    karis_conversation: int
    olas_conversation: int


async def build(runtime: Runtime, now: datetime, age: timedelta = timedelta(0)) -> History:
    at = now - age
    async with runtime.db.write() as session:
        workspace = Workspace(slug="nordlys", name="Nordlys")
        session.add(workspace)
        await session.flush()
        channel = Channel(workspace_id=workspace.id, network="mastodon", name="@nordlys")
        session.add(channel)
        await session.flush()
        kari = Contact(
            workspace_id=workspace.id,
            network="mastodon",
            handle="@kari@example.social",
            name="Kari Nordmann",
        )
        ola = Contact(
            workspace_id=workspace.id,
            network="mastodon",
            handle="@ola@example.social",
            name="Ola Hansen",
        )
        session.add_all([kari, ola])
        await session.flush()
        conversations = []
        for contact in (kari, ola):
            conversation = Conversation(
                workspace_id=workspace.id,
                channel_id=channel.id,
                contact_id=contact.id,
                subject=f"Leveransen till {contact.handle}",
                status="closed",
                last_message_at=at,
                created_at=at,
            )
            session.add(conversation)
            await session.flush()
            conversations.append(conversation.id)
            for n, direction in enumerate(("inbound", "outbound", "note")):
                session.add(
                    Message(
                        workspace_id=workspace.id,
                        channel_id=channel.id,
                        conversation_id=conversation.id,
                        contact_id=contact.id if direction == "inbound" else None,
                        direction=direction,
                        external_id=f"{contact.handle}-{n}",
                        text=f"{direction} about {contact.handle}",
                        created_at=at,
                    )
                )
        # Kari also mentioned us in a thread that someone else started.
        session.add(
            Message(
                workspace_id=workspace.id,
                channel_id=channel.id,
                conversation_id=conversations[1],
                contact_id=kari.id,
                direction="inbound",
                external_id="kari-in-olas-thread",
                text="Me too!",
                created_at=at,
            )
        )
        session.add(
            QuarantinedItem(
                workspace_id=workspace.id,
                channel_id=channel.id,
                network="mastodon",
                reason="no text",
                raw='{"account": {"acct": "@kari@example.social"}}',
            )
        )
        return History(workspace.id, channel.id, kari.id, ola.id, *conversations)
