"""Saved replies: only known variables are filled in (safely), department replies show only in
that department's conversations, and changes are audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from allsang.authz import Actor
from allsang.db.models import AuditEvent, Conversation, Department
from allsang.inbox import saved_replies
from allsang.inbox.actions import InvalidChange, NotFound
from allsang.runtime import Runtime
from tests.inbox.seed import Seeded, seed
from tests.web.conftest import World, create_world

VALUES = {
    "contact_name": "Anna Berg",
    "agent_name": "Editor Person",
    "workspace_name": "Acme",
}


def test_known_variables_are_filled_in_and_others_stay_as_written() -> None:
    text = (
        "Hej {contact_name}! /{agent_name}, {workspace_name} {unknown} {0} {contact_name.__class__}"
    )
    assert saved_replies.render(text, VALUES) == (
        "Hej Anna Berg! /Editor Person, Acme {unknown} {0} {contact_name.__class__}"
    )


def test_values_are_inserted_verbatim_never_interpreted_again() -> None:
    values = {"contact_name": "{agent_name} <script>"}
    assert saved_replies.render("Hi {contact_name}", values) == "Hi {agent_name} <script>"


@pytest.fixture
async def world(runtime: Runtime) -> World:
    return await create_world(runtime)


@pytest.fixture
async def seeded(runtime: Runtime, world: World) -> Seeded:
    return await seed(runtime.db, world.workspace.id)


def editor(world: World) -> Actor:
    return Actor(
        kind="person",
        label="editor",
        workspace_id=world.workspace.id,
        role="editor",
        person_id=world.people["editor"].id,
    )


async def test_a_department_reply_shows_only_in_its_conversations(
    runtime: Runtime, world: World, seeded: Seeded
) -> None:
    async with runtime.db.write() as session:
        support = Department(workspace_id=world.workspace.id, name="Support")
        session.add(support)
        await session.flush()
        await saved_replies.save(
            session, editor(world), world.workspace.id, name="Thanks", text="Tack {contact_name}!"
        )
        await saved_replies.save(
            session,
            editor(world),
            world.workspace.id,
            name="Opening hours",
            text="Vi har öppet 9–17.",
            department=str(support.id),
        )
        row = await session.get(Conversation, seeded.conversations[0].id)
        assert row is not None
        row.department_id = support.id
    async with runtime.db.read() as session:
        everywhere = await saved_replies.available(session, world.workspace.id, None)
        in_support = await saved_replies.available(session, world.workspace.id, support.id)
        conversation = await session.get(Conversation, seeded.conversations[0].id)
        assert conversation is not None
        values = await saved_replies.values_for(session, conversation, world.people["editor"].id)
    assert [s.name for s in everywhere] == ["Thanks"]
    assert [s.name for s in in_support] == ["Opening hours", "Thanks"]
    assert values["contact_name"] == "Anna Berg"
    assert values["agent_first_name"] == "Editor"
    assert values["department_name"] == "Support"
    assert values["channel_name"] == "Acme on Mastodon"


async def test_changes_are_checked_and_audited(runtime: Runtime, world: World) -> None:
    async with runtime.db.write() as session:
        saved = await saved_replies.save(
            session, editor(world), world.workspace.id, name="  Hi  there ", text="Hello"
        )
        assert saved.name == "Hi there"
        await saved_replies.save(
            session,
            editor(world),
            world.workspace.id,
            name="Hi",
            text="Hello again",
            saved_id=saved.id,
        )
        with pytest.raises(InvalidChange):
            await saved_replies.save(session, editor(world), world.workspace.id, name="", text="x")
        with pytest.raises(NotFound):
            await saved_replies.save(
                session, editor(world), world.workspace.id, name="x", text="y", department="999"
            )
    async with runtime.db.write() as session:
        await saved_replies.delete(session, editor(world), world.workspace.id, saved.id)
    async with runtime.db.read() as session:
        actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        assert await saved_replies.all_of(session, world.workspace.id) == []
    assert actions == ["saved_reply.create", "saved_reply.update", "saved_reply.delete"]
