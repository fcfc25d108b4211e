"""Round-robin assignment among the people on duty in a department.

Who is eligible: when the department has a duty rota (any shift in
:mod:`allsang.continuity.rota`), the people :func:`~allsang.continuity.on_duty` returns (it
already leaves out people who are out of office or inactive); without a rota, every active
department member who is a member of the workspace and not out of office.

Fairness: each assignment bumps the department's counter and records the new value as the
chosen person's last turn; the next conversation goes to the eligible person whose last turn
is oldest (never assigned counts as oldest; ties go to the lower person id). People who were
off duty therefore come first when they return, and nobody gets two turns while another
eligible person waits.

Concurrency: the counter is bumped with an ``UPDATE`` before anyone is chosen. On
PostgreSQL that takes the row lock, so a second transaction assigning in the same department
waits until the first commits and then sees its turn; on SQLite every write transaction
already holds the database's write lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.continuity.rota import absent_people, on_duty
from allsang.db.dialect import insert_ignoring_conflicts
from allsang.db.models import Department, DepartmentMember, Membership, Person
from allsang.db.models.continuity import DutyShift
from allsang.db.models.routing import RoundRobinCounter, RoundRobinTurn


async def eligible(session: AsyncSession, department_id: int, at: datetime) -> list[int]:
    """Ids of the people who may get a conversation in the department at ``at``, ascending."""
    has_rota = await session.scalar(
        select(DutyShift.id).where(DutyShift.department_id == department_id).limit(1)
    )
    if has_rota is not None:
        return await on_duty(session, department_id, at)
    department = await session.get(Department, department_id)
    if department is None:
        return []
    members = set(
        await session.scalars(
            select(DepartmentMember.person_id)
            .join(Person, Person.id == DepartmentMember.person_id)
            .join(
                Membership,
                (Membership.person_id == Person.id)
                & (Membership.workspace_id == department.workspace_id),
            )
            .where(DepartmentMember.department_id == department_id, Person.is_active.is_(True))
        )
    )
    return sorted(members - await absent_people(session, department.workspace_id, at))


async def next_assignee(session: AsyncSession, department_id: int, at: datetime) -> int | None:
    """Take the next turn in the department: the chosen person's id, or None when nobody is
    eligible (then no turn is used). Call inside the write transaction that assigns."""
    return (await take_turns(session, department_id, 1, at))[0]


async def take_turns(
    session: AsyncSession, department_id: int, count: int, at: datetime
) -> list[int | None]:
    """Take ``count`` consecutive turns at once (one batch of conversations): the person for
    each, in order; all None when nobody is eligible. The counter moves by ``count`` in one
    statement, so a concurrent assigner gets the turns after these."""
    people = await eligible(session, department_id, at)
    if not people or count < 1:
        return [None] * max(count, 0)
    await session.execute(
        insert_ignoring_conflicts(session, RoundRobinCounter.__table__).values(
            department_id=department_id, turn=0
        )
    )
    last = (
        await session.execute(
            update(RoundRobinCounter)
            .where(RoundRobinCounter.department_id == department_id)
            .values(turn=RoundRobinCounter.turn + count)
            .returning(RoundRobinCounter.turn)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one()
    last_turns: dict[int, int] = dict(
        (
            await session.execute(
                select(RoundRobinTurn.person_id, RoundRobinTurn.turn).where(
                    RoundRobinTurn.department_id == department_id,
                    RoundRobinTurn.person_id.in_(people),
                )
            )
        ).all()
    )
    known = set(last_turns)
    chosen: list[int | None] = []
    for turn in range(last - count + 1, last + 1):
        person = min(people, key=lambda p: (last_turns.get(p, 0), p))
        last_turns[person] = turn
        chosen.append(person)
    changed = set(p for p in chosen if p is not None)
    updates = [{"p": p, "t": last_turns[p]} for p in sorted(changed & known)]
    if updates:
        table = RoundRobinTurn.__table__
        await session.execute(
            table.update()
            .where(table.c.department_id == department_id, table.c.person_id == bindparam("p"))
            .values(turn=bindparam("t")),
            updates,
        )
    inserts = [
        {"department_id": department_id, "person_id": p, "turn": last_turns[p]}
        for p in sorted(changed - known)
    ]
    if inserts:
        await session.execute(RoundRobinTurn.__table__.insert(), inserts)
    return chosen
