"""Demo continuity: a customer-service rota and two named reconnectors for the demo stream,
so the pages show something real and the demo is not warned about its own channel."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import Channel, Department, Person, Workspace
from allsang.db.models.continuity import ChannelReconnector, DutyShift

# (e-mail, weekdays, from, to) in the workspace's time zone.
ROTA = (
    ("ingrid@demo.allsang.test", range(0, 5), 8 * 60, 16 * 60),
    ("astrid@demo.allsang.test", range(0, 5), 16 * 60, 20 * 60),
    ("mikkel@demo.allsang.test", range(5, 7), 10 * 60, 14 * 60),
)
RECONNECTORS = ("astrid@demo.allsang.test", "ingrid@demo.allsang.test")


async def seed_continuity(
    session: AsyncSession, workspace: Workspace, departments: dict[str, Department]
) -> None:
    """Add the rota and reconnectors once (left alone when the rota already has shifts)."""
    await session.flush()  # the demo stream may have just been added
    department = departments["Customer service"]
    if await session.scalar(select(DutyShift.id).where(DutyShift.department_id == department.id)):
        return
    people = {
        person.email: person.id
        for person in await session.scalars(
            select(Person).where(Person.email.in_([row[0] for row in ROTA] + list(RECONNECTORS)))
        )
    }
    for email, days, start, end in ROTA:
        for day in days:
            session.add(
                DutyShift(
                    workspace_id=workspace.id,
                    department_id=department.id,
                    person_id=people[email],
                    weekday=day,
                    start_minute=start,
                    end_minute=end,
                )
            )
    for channel_id in await session.scalars(
        select(Channel.id).where(Channel.workspace_id == workspace.id)
    ):
        for email in RECONNECTORS:
            if await session.get(ChannelReconnector, (channel_id, people[email])) is None:
                session.add(
                    ChannelReconnector(
                        channel_id=channel_id, person_id=people[email], workspace_id=workspace.id
                    )
                )
