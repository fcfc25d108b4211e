"""The inbox's SSE feeds against a real server: an event per change with the conversation's
position as its id, and a reconnect with Last-Event-ID replays what changed meanwhile."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx

from tests.web.conftest import PASSWORD
from tests.web.test_inbox_browser import FakeMastodon, served  # noqa: F401 (a fixture)


async def _logged_in(server: str, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=server, timeout=5)
    response = await client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303
    return client


async def _events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, str]]:
    event: dict[str, str] = {}
    async for line in lines:
        if not line:
            if "event" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _sep, value = line.partition(": ")
            event[name] = value


async def test_a_change_is_an_event_and_a_reconnect_replays_what_was_missed(
    served: tuple[str, int, FakeMastodon],  # noqa: F811
) -> None:
    server, conversation_id, _fake = served
    watcher = await _logged_in(server, "viewer@acme.test")
    actor = await _logged_in(server, "editor@acme.test")
    async with watcher.stream("GET", "/inbox/events/list") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response.aiter_lines())
        assign = await actor.post(f"/inbox/{conversation_id}/assign", data={"person": "me"})
        assert assign.status_code == 303
        event = await anext(events)
    assert event["event"] == "conversation"
    assert json.loads(event["data"]) == {"conversation": conversation_id}
    position = int(event["id"])

    # Missed while away: a status change. Reconnecting from the old position replays it only.
    await actor.post(f"/inbox/{conversation_id}/set", data={"status": "closed"})
    headers = {"last-event-id": str(position)}
    async with watcher.stream("GET", "/inbox/events/list", headers=headers) as response:
        replayed = await anext(_events(response.aiter_lines()))
    assert json.loads(replayed["data"]) == {"conversation": conversation_id}
    assert int(replayed["id"]) > position
    await watcher.aclose()
    await actor.aclose()
