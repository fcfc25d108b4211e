"""A small team: a workspace in Stockholm, one department, people with different roles."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from allsang.db.models import Department, DepartmentMember, Membership, Person, Workspace
from allsang.runtime import Runtime


@dataclass
class Team:
    workspace: Workspace
    department: Department
    people: dict[str, Person] = field(default_factory=dict)

    def id(self, name: str) -> int:
        return self.people[name].id


ROLES = {"anna": "admin", "bo": "editor", "cia": "contributor", "dan": "editor"}


@pytest.fixture
async def team(runtime: Runtime) -> Team:
    async with runtime.db.write() as session:
        workspace = Workspace(slug="acme", name="Acme", timezone="Europe/Stockholm")
        session.add(workspace)
        await session.flush()
        department = Department(workspace_id=workspace.id, name="Kundtjänst")
        session.add(department)
        await session.flush()
        result = Team(workspace=workspace, department=department)
        for name, role in ROLES.items():
            person = Person(email=f"{name}@acme.test", name=name.title())
            session.add(person)
            await session.flush()
            session.add(Membership(workspace_id=workspace.id, person_id=person.id, role=role))
            session.add(DepartmentMember(department_id=department.id, person_id=person.id))
            result.people[name] = person
    return result
