"""Fixtures for the web tests: an app on the test database, a workspace with one person per
role, and clients logged in as them; for the browser tests (helpers in tests/web/browser.py),
Debian's Chromium and the app served on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import Browser
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from allsang.auth import passwords, sessions
from allsang.db.models import Membership, Person, Workspace
from allsang.runtime import Runtime
from allsang.settings import Settings
from allsang.web.app import create_app

PASSWORD = "correct horse battery"
ROLES = ("owner", "admin", "editor", "contributor", "viewer")


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recommended argon2 parameters cost ~200 ms a hash here; tests use the cheapest."""
    cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    monkeypatch.setattr(passwords, "hasher", cheap)


@dataclass
class World:
    workspace: Workspace
    people: dict[str, Person] = field(default_factory=dict)

    def email(self, role: str) -> str:
        return self.people[role].email


async def add_person(
    runtime: Runtime, workspace_id: int, role: str, email: str, name: str
) -> Person:
    async with runtime.db.write() as session:
        person = Person(email=email, name=name, password_hash=passwords.hash_password(PASSWORD))
        session.add(person)
        await session.flush()
        session.add(Membership(workspace_id=workspace_id, person_id=person.id, role=role))
    return person


async def create_world(runtime: Runtime) -> World:
    """Workspace "acme" with one person per role, all with the password :data:`PASSWORD`."""
    password_hash = passwords.hash_password(PASSWORD)
    async with runtime.db.write() as session:
        workspace = Workspace(slug="acme", name="Acme", timezone="Europe/Oslo", locale="en")
        session.add(workspace)
        await session.flush()
        world = World(workspace=workspace)
        for role in ROLES:
            person = Person(
                email=f"{role}@acme.test",
                name=f"{role.title()} Person",
                password_hash=password_hash,
            )
            session.add(person)
            await session.flush()
            session.add(Membership(workspace_id=workspace.id, person_id=person.id, role=role))
            world.people[role] = person
    return world


@pytest.fixture
async def world(runtime: Runtime) -> World:
    return await create_world(runtime)


@pytest.fixture
def app(runtime: Runtime):  # type: ignore[no-untyped-def]
    return create_app(runtime)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


ClientFactory = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client_as(app, runtime: Runtime, world: World) -> AsyncIterator[ClientFactory]:  # type: ignore[no-untyped-def]
    """``await client_as("viewer")``: a client with a fresh session for that role's person
    (made directly in the database: logging in through the form is tested on its own)."""
    opened: list[httpx.AsyncClient] = []

    async def make(role: str) -> httpx.AsyncClient:
        person = world.people[role]
        async with runtime.db.write() as session:
            token, _row = await sessions.create_session(
                session, person_id=person.id, workspace_id=world.workspace.id, days=1
            )
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            cookies={sessions.COOKIE_NAME: token},
        )
        opened.append(c)
        return c

    yield make
    for c in opened:
        await c.aclose()


# tests.web.browser imports PASSWORD from this module, so the browser fixtures import it when
# they run rather than at the top.


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium for one test (which is skipped where it is not installed)."""
    from tests.web.browser import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    """The app on :func:`create_world`'s workspace, served on a free port: its base URL."""
    from tests.web.browser import AppServer, run_async, runtime_for

    async def seed() -> None:
        async with runtime_for(settings) as runtime:
            await create_world(runtime)

    run_async(seed())
    with AppServer(settings) as app:
        yield app.url
