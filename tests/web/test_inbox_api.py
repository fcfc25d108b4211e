"""The inbox's JSON API: assignment, status, notes and replies on a conversation, with
bearer tokens, audited like the pages, and documented in the OpenAPI document."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from allsang.db.models import AuditEvent, Conversation, Message, Notification
from allsang.runtime import Runtime
from tests.inbox.seed import Seeded, seed
from tests.web.conftest import World
from tests.web.test_inbox import FakeMastodon, fake_mastodon  # noqa: F401 (a fixture)
from tests.web.test_messages_api import token


@pytest.fixture
async def seeded(runtime: Runtime, world: World) -> Seeded:
    return await seed(runtime.db, world.workspace.id)


async def test_a_token_assigns_and_sets_the_status_and_both_are_audited(
    client: httpx.AsyncClient, runtime: Runtime, world: World, seeded: Seeded
) -> None:
    headers = await token(runtime, world.workspace.id, "contributor")
    target = seeded.conversations[1]
    editor_id = world.people["editor"].id
    url = f"/api/v1/conversations/{target.id}"
    response = await client.put(
        f"{url}/assignment", json={"assignee_id": editor_id}, headers=headers
    )
    assert response.status_code == 200
    assert (response.json()["assignee_id"], response.json()["status"]) == (editor_id, "open")
    response = await client.put(
        f"{url}/status", json={"status": "closed", "priority": "high"}, headers=headers
    )
    assert (response.json()["status"], response.json()["priority"]) == ("closed", "high")
    unassigned = await client.put(f"{url}/assignment", json={"assignee_id": None}, headers=headers)
    assert unassigned.json()["assignee_id"] is None
    async with runtime.db.read() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.resource_id == str(target.id))
                .order_by(AuditEvent.id)
            )
        )
    assert actions == [
        "conversation.assign",
        "conversation.status",
        "conversation.priority",
        "conversation.assign",
    ]


async def test_wrong_values_and_other_workspaces_are_problems(
    client: httpx.AsyncClient, runtime: Runtime, world: World, seeded: Seeded
) -> None:
    headers = await token(runtime, world.workspace.id, "contributor")
    url = f"/api/v1/conversations/{seeded.conversations[0].id}"
    bad_status = await client.put(f"{url}/status", json={"status": "gone"}, headers=headers)
    assert bad_status.status_code == 422
    assert bad_status.headers["content-type"] == "application/problem+json"
    stranger = await client.put(f"{url}/assignment", json={"assignee_id": 999999}, headers=headers)
    assert stranger.status_code == 404
    missing = await client.put(
        "/api/v1/conversations/999999/status", json={"status": "open"}, headers=headers
    )
    assert missing.status_code == 404
    viewer = await token(runtime, world.workspace.id, "viewer")
    refused = await client.put(f"{url}/status", json={"status": "open"}, headers=viewer)
    assert refused.status_code == 403


async def test_a_note_is_stored_with_its_mentions_and_a_viewer_token_may_not_add_one(
    client: httpx.AsyncClient, runtime: Runtime, world: World, seeded: Seeded
) -> None:
    headers = await token(runtime, world.workspace.id, "contributor")
    url = f"/api/v1/conversations/{seeded.conversations[0].id}/notes"
    response = await client.post(url, json={"text": "@owner please look"}, headers=headers)
    assert response.status_code == 201
    assert (response.json()["direction"], response.json()["text"]) == ("note", "@owner please look")
    async with runtime.db.read() as session:
        assert list(await session.scalars(select(Notification.person_id))) == [
            world.people["owner"].id
        ]
    assert (await client.post(url, json={"text": ""}, headers=headers)).status_code == 422
    viewer = await token(runtime, world.workspace.id, "viewer")
    assert (await client.post(url, json={"text": "hi"}, headers=viewer)).status_code == 403


async def test_a_reply_through_the_api_goes_out_and_a_refusal_is_a_502_that_stores_nothing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,
    seeded: Seeded,
    fake_mastodon: type[FakeMastodon],  # noqa: F811
) -> None:
    headers = await token(runtime, world.workspace.id, "contributor")
    target = seeded.conversations[0]
    url = f"/api/v1/conversations/{target.id}/replies"
    fake_mastodon.fail = True
    refused = await client.post(url, json={"text": "Hej Anna!"}, headers=headers)
    assert refused.status_code == 502
    assert refused.json()["detail"] == "the status was deleted"
    too_long = await client.post(url, json={"text": "x" * 501}, headers=headers)
    assert too_long.status_code == 422
    fake_mastodon.fail = False
    response = await client.post(url, json={"text": "Hej Anna!"}, headers=headers)
    assert response.status_code == 201
    body = response.json()
    assert (body["direction"], body["external_id"], body["in_reply_to"]) == (
        "outbound",
        "9001",
        "100",
    )
    async with runtime.db.read() as session:
        conversation = await session.get(Conversation, target.id)
        outbound = list(
            await session.scalars(select(Message.id).where(Message.direction == "outbound"))
        )
    assert conversation is not None and conversation.waiting_since is None
    assert len(outbound) == 1
    viewer = await token(runtime, world.workspace.id, "viewer")
    assert (await client.post(url, json={"text": "hi"}, headers=viewer)).status_code == 403


async def test_the_changes_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
    base = "/api/v1/conversations/{conversation_id}"
    assert "put" in paths[f"{base}/assignment"] and "put" in paths[f"{base}/status"]
    assert "post" in paths[f"{base}/notes"] and "post" in paths[f"{base}/replies"]
    assert "502" in paths[f"{base}/replies"]["post"]["responses"]
