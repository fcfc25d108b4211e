"""The messages API: the webhook connector (POST /api/v1/messages) and the list endpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from allsang.auth.tokens import create_api_token
from allsang.db.models import (
    AuditEvent,
    Channel,
    Conversation,
    Department,
    Message,
    QuarantinedItem,
    Workspace,
)
from allsang.runtime import Runtime
from tests.web.conftest import World

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def message(external_id: str, minutes: int = 0, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "mastodon",
        "external_id": external_id,
        "url": f"https://social.example/@ada/{external_id}",
        "kind": "post",
        "author": {"handle": "@ada@social.example", "name": "Ada"},
        "text": f"Message {external_id}",
        "created_at": (T0 + timedelta(minutes=minutes)).isoformat(),
    }
    body.update(fields)
    return body


async def token(runtime: Runtime, workspace_id: int, role: str = "editor") -> dict[str, str]:
    async with runtime.db.write() as session:
        value = await create_api_token(
            session, workspace_id=workspace_id, role=role, name=f"{role}-hook"
        )
    return {"Authorization": f"Bearer {value}"}


async def post(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.post("/api/v1/messages", json=body, headers=headers)


async def test_it_ingests_one_message_and_counts_a_repeat_as_a_duplicate(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    headers = await token(runtime, world.workspace.id)
    first = await post(client, headers, message("1", lang="sv", score=7))
    assert first.status_code == 200
    assert first.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0}
    again = await post(client, headers, message("1"))
    assert again.json() == {"accepted": 0, "duplicates": 1, "quarantined": 0}
    async with runtime.db.read() as session:
        channel = (await session.scalars(select(Channel))).one()
        stored = (await session.scalars(select(Message))).one()
        created = await session.scalar(
            select(func.count()).where(AuditEvent.action == "channel.create")
        )
    assert (channel.name, channel.network, channel.workspace_id) == (
        "mastodon (webhook)",
        "mastodon",
        world.workspace.id,
    )
    assert channel.config == {"source": "webhook", "listen": False}
    assert stored.channel_id == channel.id and stored.lang == "sv"
    assert stored.extra["score"] == 7  # extra fields are kept
    # Enriched like every connector's messages (the listening engine's sentiment).
    assert stored.sentiment in ("pos", "neu", "neg") and stored.extra["lang_source"] == "connector"
    assert created == 1


async def test_a_list_is_ingested_with_invalid_items_quarantined_and_replies_threaded(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    headers = await token(runtime, world.workspace.id)
    body = [
        message("10", addressed=True),
        message("11", 1, kind="reply", in_reply_to="10"),
        message("12", 2, created_at="yesterday"),
        {"channel": "bluesky", "external_id": "b1"},
        "not an object",
        message("r1", 3, channel="rss", kind="article"),
    ]
    response = await post(client, headers, body)
    assert response.json() == {"accepted": 3, "duplicates": 0, "quarantined": 3}
    async with runtime.db.read() as session:
        names = set(await session.scalars(select(Channel.name)))
        replies = list(
            await session.execute(
                select(Message.external_id, Message.conversation_id).where(
                    Message.external_id.in_(["10", "11"])
                )
            )
        )
        reasons = {
            q.network: q.reason
            for q in await session.scalars(select(QuarantinedItem).order_by(QuarantinedItem.id))
        }
    assert names == {
        "mastodon (webhook)",
        "bluesky (webhook)",
        "rss (webhook)",
        "webhook (webhook)",
    }
    conversations = {conversation for _id, conversation in replies}
    assert len(replies) == 2 and len(conversations) == 1 and None not in conversations
    assert "created_at" in reasons["mastodon"]
    assert "author" in reasons["bluesky"]
    assert "expected a JSON object" in reasons["webhook"]


async def test_bad_bodies_get_problem_answers(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    headers = await token(runtime, world.workspace.id)
    not_json = await client.post(
        "/api/v1/messages", content=b"{not json", headers={**headers, "content-type": "text/plain"}
    )
    assert not_json.status_code == 400
    assert not_json.headers["content-type"] == "application/problem+json"
    assert not_json.json()["status"] == 400

    scalar = await post(client, headers, 42)
    assert scalar.status_code == 422 and "list of messages" in scalar.json()["detail"]

    too_many = await post(client, headers, [message(str(i)) for i in range(1001)])
    assert too_many.status_code == 413 and "1000" in too_many.json()["detail"]

    huge = json.dumps(message("big", text="x" * (5 * 1024 * 1024))).encode()
    too_big = await client.post(
        "/api/v1/messages", content=huge, headers={**headers, "content-type": "application/json"}
    )
    assert too_big.status_code == 413 and too_big.json()["status"] == 413

    async def chunks() -> Any:
        for _ in range(6):
            yield b" " * (1024 * 1024)

    streamed = await client.post("/api/v1/messages", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    async with runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0


async def test_the_webhook_needs_a_token_with_an_editors_role(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    anonymous = await post(client, {}, message("1"))
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    viewer = await post(client, await token(runtime, world.workspace.id, "viewer"), message("1"))
    assert viewer.status_code == 403
    assert viewer.headers["content-type"] == "application/problem+json"
    contributor = await token(runtime, world.workspace.id, "contributor")
    assert (await post(client, contributor, message("1"))).status_code == 403
    async with runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Channel)) == 0


async def _seed(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    body = [
        message("a1", 0, addressed=True, lang="sv"),
        message("a2", 1, kind="reply", in_reply_to="a1", lang="sv"),
        message("a3", 2, kind="dm", lang="en"),
        message("a4", 3, lang="en", direction="outbound"),
        message("r1", 4, channel="rss", kind="article", lang="da"),
    ]
    assert (await post(client, headers, body)).json()["accepted"] == 5


async def test_messages_are_listed_newest_first_with_filters_and_keyset_pages(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    headers = await token(runtime, world.workspace.id)
    await _seed(client, headers)

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/api/v1/messages{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [item["external_id"] for item in response.json()["items"]]

    assert await ids("") == ["r1", "a4", "a3", "a2", "a1"]
    assert await ids("?channel=rss") == ["r1"]
    assert await ids("?kind=reply") == ["a2"]
    assert await ids("?direction=outbound") == ["a4"]
    assert await ids("?lang=sv") == ["a2", "a1"]
    since = (T0 + timedelta(minutes=1)).isoformat()
    until = (T0 + timedelta(minutes=3)).isoformat()
    assert await ids(f"?{httpx.QueryParams(since=since, until=until)}") == ["a3", "a2"]

    first = (await client.get("/api/v1/messages?limit=2", headers=headers)).json()
    assert [m["external_id"] for m in first["items"]] == ["r1", "a4"]
    assert first["items"][0]["channel"] == "rss"
    assert first["items"][0]["author"] == {
        "handle": "@ada@social.example",
        "name": "Ada",
        "url": "",
    }
    second = (
        await client.get(f"/api/v1/messages?limit=2&before={first['next']}", headers=headers)
    ).json()
    third = (
        await client.get(f"/api/v1/messages?limit=2&before={second['next']}", headers=headers)
    ).json()
    assert [m["external_id"] for m in second["items"] + third["items"]] == ["a3", "a2", "a1"]
    assert third["next"] is None

    conversation_id = first["items"][0]["conversation_id"]
    assert conversation_id is None  # an article opens no conversation
    thread = [m for m in (await client.get("/api/v1/messages", headers=headers)).json()["items"]]
    a1 = next(m for m in thread if m["external_id"] == "a1")
    assert await ids(f"?conversation_id={a1['conversation_id']}") == ["a2", "a1"]


async def test_conversations_are_listed_with_filters_and_one_shows_its_thread(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    headers = await token(runtime, world.workspace.id, "viewer")
    await _seed(client, await token(runtime, world.workspace.id))
    async with runtime.db.write() as session:
        department = Department(workspace_id=world.workspace.id, name="Support")
        session.add(department)
        await session.flush()
        dm = await session.scalar(select(Conversation).where(Conversation.thread_key.like("dm:%")))
        assert dm is not None
        dm.status, dm.assignee_id, dm.department_id = (
            "open",
            world.people["editor"].id,
            department.id,
        )

    listing = (await client.get("/api/v1/conversations", headers=headers)).json()
    assert [c["subject"] for c in listing["items"]] == ["Message a3", "Message a1"]
    assert [c["messages"] for c in listing["items"]] == [1, 2]
    assert listing["next"] is None
    for query in (
        "status=open",
        f"assignee_id={world.people['editor'].id}",
        f"department_id={department.id}",
    ):
        found = (await client.get(f"/api/v1/conversations?{query}", headers=headers)).json()
        assert [c["id"] for c in found["items"]] == [dm.id], query
    assert (await client.get("/api/v1/conversations?status=new", headers=headers)).json()["items"][
        0
    ]["subject"] == "Message a1"

    page = (await client.get("/api/v1/conversations?limit=1", headers=headers)).json()
    rest = (
        await client.get(f"/api/v1/conversations?limit=1&before={page['next']}", headers=headers)
    ).json()
    assert [c["subject"] for c in page["items"] + rest["items"]] == ["Message a3", "Message a1"]

    thread_id = listing["items"][1]["id"]
    detail = (await client.get(f"/api/v1/conversations/{thread_id}", headers=headers)).json()
    assert detail["contact"]["handle"] == "@ada@social.example"
    assert [m["external_id"] for m in detail["thread"]] == ["a1", "a2"]


async def test_invalid_filters_are_422_problems(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    headers = await token(runtime, world.workspace.id, "viewer")
    for path in (
        "/api/v1/messages?kind=tweet",
        "/api/v1/messages?direction=sideways",
        "/api/v1/messages?limit=201",
        "/api/v1/messages?limit=0",
        "/api/v1/messages?since=last-tuesday",
        "/api/v1/messages?before=not-a-cursor",
        "/api/v1/messages?lang=Swedish",
        "/api/v1/conversations?status=lost",
        "/api/v1/conversations?assignee_id=me",
        "/api/v1/conversations?before=bm90fGE",
        "/api/v1/conversations/zero",
    ):
        response = await client.get(path, headers=headers)
        assert response.status_code == 422, path
        assert response.headers["content-type"] == "application/problem+json", path
        assert response.json()["errors"], path


async def test_no_workspace_sees_another_ones_messages(
    client: httpx.AsyncClient, world: World, runtime: Runtime
) -> None:
    await _seed(client, await token(runtime, world.workspace.id))
    async with runtime.db.write() as session:
        other = Workspace(slug="other", name="Other")
        session.add(other)
        await session.flush()
    theirs = await token(runtime, other.id)
    # The same message posted by the other workspace is theirs, not a duplicate of ours.
    assert (await post(client, theirs, message("a1"))).json()["accepted"] == 1
    mine = await token(runtime, world.workspace.id, "viewer")

    listed = (await client.get("/api/v1/messages", headers=theirs)).json()["items"]
    assert [m["external_id"] for m in listed] == ["a1"]
    assert len((await client.get("/api/v1/messages", headers=mine)).json()["items"]) == 5
    assert (await client.get("/api/v1/conversations", headers=theirs)).json()["items"] == []
    our_conversation = (await client.get("/api/v1/conversations", headers=mine)).json()["items"][0][
        "id"
    ]
    hidden = await client.get(f"/api/v1/conversations/{our_conversation}", headers=theirs)
    assert hidden.status_code == 404 and hidden.json()["status"] == 404
    our_channel = listed[0]["channel_id"]
    async with runtime.db.read() as session:
        assert (
            await session.scalar(select(func.count()).where(Channel.workspace_id == other.id)) == 1
        )
    filtered = await client.get(f"/api/v1/messages?channel_id={our_channel}", headers=mine)
    assert filtered.json()["items"] == []


async def test_the_openapi_document_describes_the_webhook_and_the_filters(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    ingest = spec["paths"]["/api/v1/messages"]["post"]
    body = ingest["requestBody"]["content"]["application/json"]["schema"]
    single, many = body["oneOf"]
    assert {"channel", "external_id", "author", "created_at"} <= set(single["required"])
    assert many["maxItems"] == 1000
    assert {"200", "400", "401", "403", "413"} <= set(ingest["responses"])
    summary = ingest["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert summary.endswith("/IngestSummary")
    listing = {p["name"] for p in spec["paths"]["/api/v1/messages"]["get"]["parameters"]}
    assert {"channel", "kind", "direction", "lang", "since", "until", "conversation_id"} <= listing
    assert {"limit", "before"} <= listing
    conversations = {p["name"] for p in spec["paths"]["/api/v1/conversations"]["get"]["parameters"]}
    assert {"status", "assignee_id", "department_id", "limit", "before"} <= conversations
    assert "/api/v1/conversations/{conversation_id}" in spec["paths"]
