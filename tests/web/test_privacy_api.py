"""The privacy API: export and erase a contact, read and set the retention policy."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from allsang.db.models import Channel, Contact, Conversation, Message
from allsang.runtime import Runtime
from tests.web.conftest import World
from tests.web.test_api import _token


async def _kari(runtime: Runtime, world: World) -> int:
    async with runtime.db.write() as session:
        channel = Channel(workspace_id=world.workspace.id, network="mastodon", name="@us")
        kari = Contact(
            workspace_id=world.workspace.id, network="mastodon", handle="@kari@ex.social"
        )
        session.add_all([channel, kari])
        await session.flush()
        conversation = Conversation(workspace_id=world.workspace.id, contact_id=kari.id)
        session.add(conversation)
        await session.flush()
        session.add(
            Message(
                workspace_id=world.workspace.id,
                channel_id=channel.id,
                conversation_id=conversation.id,
                contact_id=kari.id,
                direction="inbound",
                external_id="1",
                text="Var är min beställning?",
            )
        )
        return kari.id


async def test_an_admin_exports_then_erases_a_contact(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    kari = await _kari(runtime, world)
    headers = {"Authorization": f"Bearer {await _token(runtime, world, 'admin')}"}

    exported = await client.get(f"/api/v1/contacts/{kari}/export", headers=headers)
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.json()["messages"][0]["text"] == "Var är min beställning?"

    erased = await client.delete(f"/api/v1/contacts/{kari}", headers=headers)
    assert erased.status_code == 200
    assert erased.json()["counts"]["messages"] == 1
    async with runtime.db.read() as session:
        assert list(await session.scalars(select(Message))) == []

    again = await client.delete(f"/api/v1/contacts/{kari}", headers=headers)
    assert again.status_code == 404
    assert again.headers["content-type"] == "application/problem+json"


async def test_an_editor_may_neither_export_nor_erase(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    kari = await _kari(runtime, world)
    headers = {"Authorization": f"Bearer {await _token(runtime, world, 'editor')}"}
    assert (await client.get(f"/api/v1/contacts/{kari}/export", headers=headers)).status_code == 403
    assert (await client.delete(f"/api/v1/contacts/{kari}", headers=headers)).status_code == 403


async def test_the_retention_policy_is_set_and_answers_with_what_it_would_delete(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    headers = {"Authorization": f"Bearer {await _token(runtime, world, 'admin')}"}
    assert (await client.get("/api/v1/retention", headers=headers)).json() == {
        "listening_days": None,
        "inbox_days": None,
        "audit_days": None,
    }
    preview = await client.put(
        "/api/v1/retention", json={"inbox_days": 365, "audit_days": 730}, headers=headers
    )
    assert preview.status_code == 200
    assert preview.json() == {"conversations": 0, "messages": 0, "audit_events": 0}
    policy = (await client.get("/api/v1/retention", headers=headers)).json()
    assert policy["inbox_days"] == 365
    bad = await client.put("/api/v1/retention", json={"inbox_days": 0}, headers=headers)
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
