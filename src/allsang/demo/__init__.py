"""The demo workspace behind ``allsang serve --demo``.

Seeding is idempotent: the workspace, departments, people and the demo stream are created
once; each start gives the demo people fresh random passwords and prints them, so the printed
logins always work and no fixed password ever ships with the product.

The demo stream is a replay channel over the bundled sample (``messages.jsonl``, 2,000+
messages in six languages): it streams the sample over about three minutes, as if it were
happening now, and then keeps the workspace alive with a message every few seconds.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor
from allsang.db.models import (
    Channel,
    Department,
    DepartmentMember,
    Membership,
    Person,
    Workspace,
)
from allsang.runtime import Runtime

DEMO_SLUG = "demo"
DEPARTMENTS = ("Customer service", "Marketing", "Sales", "HR", "Communications")
SAMPLE = Path(__file__).parent / "messages.jsonl"
STREAM_NAME = "Nordlys demo stream"
# Listening queries the demo starts with (name, query in the query language).
QUERIES = (
    ("Nordlys", "nordlys OR #nordlys OR @nordlys"),
    ("Delays and cancellations", "försen* OR forsink* OR myöhä* OR delay* OR inställ* OR innstil*"),
    (
        "Ticket app",
        "(app OR appen OR appi OR sovellus*) AND (biljett* OR billett* OR billet* OR lippu* OR "
        "ticket* OR logga OR login OR krasch* OR crash*)",
    ),
    ("Press", 'journalist* OR reporter* OR toimittaja* OR "en kommentar" OR pressekontakt'),
)
STREAM_CONFIG = {
    "rate": 12,  # the whole sample in about three minutes
    "loop": True,
    "loop_rate": 0.2,  # then one message every five seconds
    "retime": True,
}

# (e-mail, name, role, departments, interface language)
PEOPLE = (
    ("astrid@demo.allsang.test", "Astrid Lindqvist", "owner", ("Communications",), "sv"),
    ("mikkel@demo.allsang.test", "Mikkel Sørensen", "admin", ("Marketing",), "da"),
    ("ingrid@demo.allsang.test", "Ingrid Haugen", "editor", ("Customer service",), "nb"),
    ("aino@demo.allsang.test", "Aino Virtanen", "contributor", ("Sales",), "en"),
    ("lars@demo.allsang.test", "Lars Berg", "contributor", ("HR",), "sv"),
    ("emma@demo.allsang.test", "Emma Wilson", "viewer", ("Customer service",), "en"),
)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str
    name: str


async def seed_demo(runtime: Runtime) -> list[DemoLogin]:
    """Create (once) the demo workspace and reset the demo people's passwords."""
    from allsang.auth.passwords import hash_password

    passwords = {email: secrets.token_urlsafe(9) for email, *_ in PEOPLE}
    # Hashing is deliberately slow (argon2id); keep it off the event loop.
    hashes = await asyncio.gather(
        *(asyncio.to_thread(hash_password, pw) for pw in passwords.values())
    )
    password_hashes = dict(zip(passwords, hashes, strict=True))
    actor = Actor(kind="system", label="demo")

    async with runtime.db.write() as session:
        workspace = await session.scalar(select(Workspace).where(Workspace.slug == DEMO_SLUG))
        if workspace is None:
            workspace = Workspace(
                slug=DEMO_SLUG, name="Nordlys Demo", timezone=runtime.settings.timezone
            )
            session.add(workspace)
            await session.flush()
            audit.record(
                session,
                actor,
                "workspace.create",
                "workspace",
                workspace.id,
                workspace_id=workspace.id,
            )
        departments = {
            d.name: d
            for d in await session.scalars(
                select(Department).where(Department.workspace_id == workspace.id)
            )
        }
        for name in DEPARTMENTS:
            if name not in departments:
                departments[name] = Department(workspace_id=workspace.id, name=name)
                session.add(departments[name])
        await session.flush()

        logins = []
        for email, name, role, member_of, locale in PEOPLE:
            person = await session.scalar(select(Person).where(Person.email == email))
            if person is None:
                person = Person(email=email, name=name, locale=locale)
                session.add(person)
                await session.flush()
                session.add(Membership(workspace_id=workspace.id, person_id=person.id, role=role))
                for department in member_of:
                    session.add(
                        DepartmentMember(
                            department_id=departments[department].id, person_id=person.id
                        )
                    )
            person.password_hash = password_hashes[email]
            person.is_active = True
            logins.append(DemoLogin(email, passwords[email], role, name))
        audit.record(
            session,
            actor,
            "demo.passwords_reset",
            "workspace",
            workspace.id,
            workspace_id=workspace.id,
        )
        await _ensure_stream(session, workspace.id, departments["Customer service"].id)
        await _ensure_queries(session, workspace.id)
        from allsang.demo.continuity import seed_continuity

        await seed_continuity(session, workspace, departments)
        from allsang.demo.routing import seed_routing

        await seed_routing(session, workspace, departments)
        from allsang.demo.inbox_workflow import seed_inbox_workflow

        await seed_inbox_workflow(session, workspace, departments)
        from allsang.demo.calendar import seed_calendar

        await seed_calendar(session, workspace, departments)
        from allsang.demo.publishing import seed_publishing

        await seed_publishing(session, workspace, departments)
    return logins


async def _ensure_stream(session: AsyncSession, workspace_id: int, department_id: int) -> None:
    """Create the demo stream once; point it at this installation's copy of the sample."""
    channel = await session.scalar(
        select(Channel).where(Channel.workspace_id == workspace_id, Channel.name == STREAM_NAME)
    )
    config = {**STREAM_CONFIG, "path": str(SAMPLE)}
    if channel is None:
        session.add(
            Channel(
                workspace_id=workspace_id,
                network="replay",
                name=STREAM_NAME,
                account="nordlys",
                department_id=department_id,
                config=config,
            )
        )
    elif channel.config.get("path") != config["path"]:
        channel.config = {**channel.config, "path": config["path"]}


async def _ensure_queries(session: AsyncSession, workspace_id: int) -> None:
    from allsang.listening.store import list_queries, save_query

    if await list_queries(session, workspace_id):
        return
    for name, query in QUERIES:
        await save_query(session, workspace_id, name=name, query=query, fold=True)
