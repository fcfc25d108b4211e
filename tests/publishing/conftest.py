"""A workspace with one person per role, a department and a Mastodon channel, plus actors."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from allsang.authz import Actor
from allsang.channels import seal_credentials
from allsang.db.models import Channel, Department, Membership, Person, Workspace
from allsang.runtime import Runtime

ROLES = ("owner", "admin", "editor", "contributor", "viewer")


@dataclass
class Newsroom:
    workspace_id: int
    department_id: int
    channel_id: int
    people: dict[str, int] = field(default_factory=dict)

    def actor(self, name: str) -> Actor:
        role = name.rstrip("0123456789")
        return Actor(
            kind="person",
            label=name,
            workspace_id=self.workspace_id,
            role=role,
            person_id=self.people[name],
        )


async def create_newsroom(runtime: Runtime, instance: str = "http://127.0.0.1:9") -> Newsroom:
    async with runtime.db.write() as session:
        workspace = Workspace(slug="acme", name="Acme", timezone="Europe/Stockholm")
        session.add(workspace)
        await session.flush()
        department = Department(workspace_id=workspace.id, name="Communications")
        channel = Channel(
            workspace_id=workspace.id,
            network="mastodon",
            name="Acme on Mastodon",
            account="@acme@fake.example",
            config={"instance": instance},
            credentials=seal_credentials(runtime.secrets, {"access_token": "t0ken"}),
        )
        session.add_all([department, channel])
        await session.flush()
        room = Newsroom(workspace.id, department.id, channel.id)
        for name in (*ROLES, "editor2", "contributor2"):
            person = Person(email=f"{name}@acme.test", name=name.title())
            session.add(person)
            await session.flush()
            role = name.rstrip("0123456789")
            session.add(Membership(workspace_id=workspace.id, person_id=person.id, role=role))
            room.people[name] = person.id
    return room


@pytest.fixture
async def room(runtime: Runtime) -> Newsroom:
    return await create_newsroom(runtime)
