"""Every channel needs two people who can reconnect it.

Reconnecting takes two things: the app role for ``channel.reconnect`` (editor and up) and the
network account's login (signing in to Mastodon or X again). The app cannot know who holds
the login, so people are **named** per channel as its reconnectors; a named person counts
when they are active and their role still allows ``channel.reconnect``.

A channel is warned about when it has fewer than :data:`MIN_RECONNECTORS` such people, or
when none of them is present (all out of office now).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import ACTIONS, RANK, Actor
from allsang.continuity.rota import absent_people
from allsang.db import Database
from allsang.db.models import Channel, Membership, Person
from allsang.db.models.continuity import ChannelReconnector
from allsang.db.types import utcnow

MIN_RECONNECTORS = 2


def can_reconnect(role: str) -> bool:
    return RANK.get(role, 0) >= RANK[ACTIONS["channel.reconnect"]]


@dataclass(slots=True)
class Coverage:
    """Who can reconnect one channel."""

    channel_id: int
    channel_name: str
    named: list[tuple[int, str]] = field(default_factory=list)  # (person id, name)
    able: list[int] = field(default_factory=list)  # named, active, role allows it
    present: list[int] = field(default_factory=list)  # able and not out of office

    @property
    def too_few(self) -> bool:
        return len(self.able) < MIN_RECONNECTORS

    @property
    def nobody_present(self) -> bool:
        return bool(self.able) and not self.present

    @property
    def warn(self) -> bool:
        return self.too_few or self.nobody_present


async def coverage(
    session: AsyncSession,
    workspace_id: int,
    *,
    channel_id: int | None = None,
    now: datetime | None = None,
) -> list[Coverage]:
    """Reconnect coverage of every channel of the workspace (or just ``channel_id``)."""
    now = now or utcnow()
    query = select(Channel.id, Channel.name).where(Channel.workspace_id == workspace_id)
    if channel_id is not None:
        query = query.where(Channel.id == channel_id)
    result = {
        cid: Coverage(cid, name)
        for cid, name in await session.execute(query.order_by(Channel.name))
    }
    if not result:
        return []
    away = await absent_people(session, workspace_id, now)
    rows = await session.execute(
        select(
            ChannelReconnector.channel_id, Person.id, Person.name, Person.is_active, Membership.role
        )
        .join(Person, Person.id == ChannelReconnector.person_id)
        .outerjoin(
            Membership,
            (Membership.person_id == Person.id) & (Membership.workspace_id == workspace_id),
        )
        .where(ChannelReconnector.channel_id.in_(result))
        .order_by(Person.name)
    )
    for cid, person_id, name, active, role in rows:
        item = result[cid]
        item.named.append((person_id, name))
        if active and role and can_reconnect(role):
            item.able.append(person_id)
            if person_id not in away:
                item.present.append(person_id)
    return list(result.values())


async def warnings(
    session: AsyncSession, workspace_id: int, now: datetime | None = None
) -> list[Coverage]:
    """The channels that need more (or present) reconnectors."""
    return [item for item in await coverage(session, workspace_id, now=now) if item.warn]


async def candidates(session: AsyncSession, workspace_id: int) -> list[tuple[int, str]]:
    """Active members whose role allows reconnecting: who may be named."""
    rows = await session.execute(
        select(Person.id, Person.name, Membership.role)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.workspace_id == workspace_id, Person.is_active.is_(True))
        .order_by(Person.name)
    )
    return [(pid, name) for pid, name, role in rows if can_reconnect(role)]


async def name(session: AsyncSession, actor: Actor, channel: Channel, person_id: int) -> bool:
    """Name a person as a reconnector of the channel; False if they cannot be (not a member
    whose role allows it). Naming someone twice changes nothing."""
    if person_id not in {pid for pid, _ in await candidates(session, channel.workspace_id)}:
        return False
    exists = await session.get(ChannelReconnector, (channel.id, person_id))
    if exists is None:
        session.add(
            ChannelReconnector(
                channel_id=channel.id, person_id=person_id, workspace_id=channel.workspace_id
            )
        )
        audit.record(
            session,
            actor,
            "channel.reconnector_add",
            "channel",
            channel.id,
            workspace_id=channel.workspace_id,
            person=person_id,
        )
    return True


async def unname(session: AsyncSession, actor: Actor, channel: Channel, person_id: int) -> None:
    result = await session.execute(
        delete(ChannelReconnector).where(
            ChannelReconnector.channel_id == channel.id,
            ChannelReconnector.person_id == person_id,
        )
    )
    if result.rowcount:  # type: ignore[attr-defined]
        audit.record(
            session,
            actor,
            "channel.reconnector_remove",
            "channel",
            channel.id,
            workspace_id=channel.workspace_id,
            person=person_id,
        )


async def findings(db: Database, now: datetime | None = None) -> list[str]:
    """One line per channel at risk, across every workspace (for ``allsang doctor``)."""
    from allsang.db.models import Workspace

    lines = []
    async with db.read() as session:
        for workspace_id, slug in await session.execute(
            select(Workspace.id, Workspace.slug).order_by(Workspace.slug)
        ):
            for item in await warnings(session, workspace_id, now):
                reason = (
                    f"{len(item.able)} of {MIN_RECONNECTORS} people can reconnect it"
                    if item.too_few
                    else "nobody who can reconnect it is present"
                )
                lines.append(f"{slug}/{item.channel_name}: {reason}")
    return lines
