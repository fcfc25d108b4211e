"""Hand-built histories with known answers for the analytics tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count

from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import (
    Channel,
    Contact,
    Conversation,
    Department,
    Message,
    Person,
    Workspace,
)

_ids = count(1)


@dataclass
class World:
    workspace: Workspace
    support: Department
    press: Department
    mastodon: Channel
    mail: Channel
    anna: Person
    ola: Person
    contacts: dict[str, Contact] = field(default_factory=dict)


async def world(
    session: AsyncSession, timezone: str = "Europe/Stockholm", workspace: Workspace | None = None
) -> World:
    n = next(_ids)
    if workspace is None:
        workspace = Workspace(slug=f"w{n}", name="Kommun", timezone=timezone)
        session.add(workspace)
        await session.flush()
    support = Department(workspace_id=workspace.id, name="Support")
    press = Department(workspace_id=workspace.id, name="Press")
    anna = Person(email=f"anna{n}@example.org", name="Anna")
    ola = Person(email=f"ola{n}@example.org", name="Ola")
    session.add_all([support, press, anna, ola])
    await session.flush()
    mastodon = Channel(
        workspace_id=workspace.id, network="mastodon", name="Mastodon", department_id=support.id
    )
    mail = Channel(
        workspace_id=workspace.id, network="email", name="E-mail", department_id=press.id
    )
    session.add_all([mastodon, mail])
    await session.flush()
    return World(workspace, support, press, mastodon, mail, anna, ola)


async def contact(session: AsyncSession, w: World, handle: str) -> Contact:
    if handle not in w.contacts:
        row = Contact(workspace_id=w.workspace.id, network="mastodon", handle=handle, name=handle)
        session.add(row)
        await session.flush()
        w.contacts[handle] = row
    return w.contacts[handle]


async def conversation(
    session: AsyncSession,
    w: World,
    channel: Channel,
    steps: list[tuple[str, datetime, str, Person | None]],
    *,
    kind: str = "comment",
    status: str = "open",
    closed_at: datetime | None = None,
    author: str = "asa",
) -> Conversation:
    """A conversation from ``(direction, at, text, person)`` steps (inbound steps from
    ``author``)."""
    who = await contact(session, w, author)
    row = Conversation(
        workspace_id=w.workspace.id,
        channel_id=channel.id,
        contact_id=who.id,
        thread_key=f"t{next(_ids)}",
        status=status,
        created_at=steps[0][1],
    )
    session.add(row)
    await session.flush()
    for direction, at, text, person in steps:
        await message(
            session,
            w,
            channel,
            direction,
            at,
            text,
            person=person,
            conversation=row,
            kind=kind if direction == "inbound" else "reply",
            contact_id=who.id if direction == "inbound" else None,
        )
    if closed_at is not None:
        row.updated_at = closed_at
    await session.flush()
    return row


async def message(
    session: AsyncSession,
    w: World,
    channel: Channel,
    direction: str,
    at: datetime,
    text: str,
    *,
    person: Person | None = None,
    conversation: Conversation | None = None,
    kind: str = "post",
    contact_id: int | None = None,
    lang: str = "sv",
    sentiment: str | None = None,
    score: float | None = None,
) -> Message:
    row = Message(
        workspace_id=w.workspace.id,
        channel_id=channel.id,
        conversation_id=conversation.id if conversation else None,
        contact_id=contact_id,
        author_person_id=person.id if person else None,
        direction=direction,
        kind=kind,
        external_id=f"m{next(_ids)}",
        text=text,
        lang=lang,
        sentiment=sentiment,
        sentiment_score=score,
        created_at=at,
    )
    session.add(row)
    await session.flush()
    return row


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


async def known_history(session: AsyncSession, workspace: Workspace | None = None) -> World:
    """The history of docs/metrics.md's worked example (Monday 2 March 2026, UTC times):

    1. question 09:00, Anna answers 09:30 (1,800 s);
    2. complaint 10:00, never answered;
    3. praise 11:00, Ola answers 11:10 (600 s), closed at 12:00;
    4. a direct e-mail 12:00, Anna answers 13:00 (3,600 s), asked again 13:10, answered 13:20;
    5. three broadcasts (two by Anna on Mastodon, one by Ola by e-mail).
    """
    w = await world(session, workspace=workspace)
    m, e, anna, ola = w.mastodon, w.mail, w.anna, w.ola
    await conversation(
        session,
        w,
        m,
        [
            ("inbound", at(2, 9), "Hej, när öppnar biblioteket?", None),
            ("outbound", at(2, 9, 30), "Klockan tio!", anna),
        ],
    )
    await conversation(
        session,
        w,
        m,
        [
            (
                "inbound",
                at(2, 10),
                "Jag är väldigt missnöjd, bussen kom aldrig. Helt oacceptabelt.",
                None,
            )
        ],
        author="bo",
    )
    await conversation(
        session,
        w,
        m,
        [
            ("inbound", at(2, 11), "Tack för en fin kväll!", None),
            ("outbound", at(2, 11, 10), "Tack själv!", ola),
        ],
        status="closed",
        closed_at=at(2, 12),
    )
    await conversation(
        session,
        w,
        e,
        [
            ("inbound", at(2, 12), "hello", None),
            ("outbound", at(2, 13), "Hi, how can we help", anna),
            ("inbound", at(2, 13, 10), "ok", None),
            ("outbound", at(2, 13, 20), "Done", anna),
        ],
        kind="email",
        author="cy",
    )
    await message(session, w, m, "outbound", at(2, 8), "Välkommen till veckan", person=anna)
    await message(session, w, m, "outbound", at(2, 15), "Nytt program", person=anna)
    await message(session, w, e, "outbound", at(2, 16), "Pressmeddelande", person=ola)
    return w


def days(n: int) -> timedelta:
    return timedelta(days=n)
