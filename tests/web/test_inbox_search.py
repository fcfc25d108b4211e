"""Search and content filters on the inbox page and in the JSON API: results, the filters in the
URL and in saved views, and a bad listening query pointed out where it goes wrong."""

from __future__ import annotations

import httpx
import pytest

from allsang.inbox import search
from allsang.runtime import Runtime
from tests.inbox.seed import Seeded, seed
from tests.web.conftest import ClientFactory, World
from tests.web.test_inbox import FakeMastodon, fake_mastodon, row_order  # noqa: F401 (fixture)
from tests.web.test_messages_api import token


@pytest.fixture
async def seeded(runtime: Runtime, world: World) -> Seeded:
    return await seed(runtime.db, world.workspace.id)


async def test_the_page_searches_with_stemming_and_keeps_the_words_in_the_form(
    client_as: ClientFactory, seeded: Seeded
) -> None:
    viewer = await client_as("viewer")
    response = await viewer.get("/inbox", params={"q": "bestillingene"})
    assert response.status_code == 200
    assert row_order(response.text, seeded) == [seeded.conversations[1].id]
    assert 'name="q" type="search" value="bestillingene"' in response.text
    # The rows endpoint (live updates) applies the same search.
    ids = ",".join(str(c.id) for c in seeded.conversations)
    rows = await viewer.get("/inbox/rows", params={"ids": ids, "q": "bestillingene"})
    assert row_order(rows.text, seeded) == [seeded.conversations[1].id]


async def test_intent_and_query_filters_work_on_the_page_and_save_as_a_view(
    client_as: ClientFactory, seeded: Seeded
) -> None:
    editor = await client_as("editor")
    html = (await editor.get("/inbox", params={"intent": "praise"})).text
    assert row_order(html, seeded) == [seeded.conversations[2].id]
    html = (await editor.get("/inbox", params={"query": "lang:sv OR lang:no"})).text
    assert row_order(html, seeded) == [c.id for c in reversed(seeded.conversations[:2])]
    saved = await editor.post(
        "/inbox/views", data={"name": "Svenska", "query": "query=lang%3Asv&q=jul"}
    )
    assert saved.status_code == 303
    assert saved.headers["location"].startswith("/inbox?q=jul&query=lang%3Asv")
    html = (await editor.get("/inbox")).text
    assert '<a href="/inbox?q=jul&amp;query=lang%3Asv">Svenska</a>' in html


async def test_a_bad_query_is_pointed_out_on_the_page(
    client_as: ClientFactory, seeded: Seeded
) -> None:
    viewer = await client_as("viewer")
    response = await viewer.get("/inbox", params={"query": "volvo AND (saab"})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.text
    assert "The query has an error at column 11: ( is never closed" in response.text
    assert row_order(response.text, seeded) == []
    near = await viewer.get("/inbox", params={"query": "volvo NEAR/x saab"})
    assert "at column 12: NEAR/ needs a number" in near.text


async def test_the_api_takes_the_same_filters(
    client: httpx.AsyncClient, runtime: Runtime, world: World, seeded: Seeded
) -> None:
    headers = await token(runtime, world.workspace.id, "viewer")
    first, second, third = seeded.conversations

    async def listed(**params: str) -> list[int]:
        response = await client.get("/api/v1/conversations", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await listed(q="öppettiderna") == [first.id]
    assert await listed(q="skuffet", language="nb") == [second.id]
    assert await listed(q="skuffet", language="sv") == []
    assert await listed(intent="praise") == [third.id]
    assert await listed(sentiment="neg") == [second.id]
    assert await listed(query="lang:en OR lang:no") == [third.id, second.id]
    assert await listed(unanswered="true") == [third.id, second.id, first.id]
    assert await listed(sla_breached="true") == []


async def test_the_api_answers_a_bad_query_with_a_positioned_problem(
    client: httpx.AsyncClient, runtime: Runtime, world: World, seeded: Seeded
) -> None:
    headers = await token(runtime, world.workspace.id, "viewer")
    response = await client.get(
        "/api/v1/conversations", params={"query": '"volvo xc'}, headers=headers
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["column"] == 1 and "never closed" in body["detail"]
    schema = (await client.get("/api/v1/openapi.json")).json()
    parameters = {p["name"] for p in schema["paths"]["/api/v1/conversations"]["get"]["parameters"]}
    assert {"q", "language", "sentiment", "intent", "tag_id", "query", "sla_breached"} <= (
        parameters
    )


async def test_replies_and_notes_written_through_the_app_are_found_at_once(
    client: httpx.AsyncClient,
    client_as: ClientFactory,
    runtime: Runtime,
    world: World,
    seeded: Seeded,
    fake_mastodon: type[FakeMastodon],  # noqa: F811
) -> None:
    target = seeded.conversations[0]
    contributor = await client_as("contributor")
    assert row_order((await contributor.get("/inbox?q=julafton")).text, seeded) == []
    sent = await contributor.post(
        f"/inbox/{target.id}/reply", data={"text": "Vi har öppet 10–14 på julafton."}
    )
    assert sent.status_code == 303 and fake_mastodon.sent
    assert row_order((await contributor.get("/inbox?q=julafton")).text, seeded) == [target.id]
    headers = await token(runtime, world.workspace.id, "contributor")
    note = await client.post(
        f"/api/v1/conversations/{seeded.conversations[2].id}/notes",
        json={"text": "Kunden vill ha en återbetalning"},
        headers=headers,
    )
    assert note.status_code == 201
    found = await client.get(
        "/api/v1/conversations", params={"q": "återbetalningen"}, headers=headers
    )
    assert [item["id"] for item in found.json()["items"]] == [seeded.conversations[2].id]


async def test_a_search_beyond_the_cap_says_its_counts_are_lower_bounds(
    client: httpx.AsyncClient,
    client_as: ClientFactory,
    runtime: Runtime,
    world: World,
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every conversation's contact handle is on mastodon.example: three hits, two read.
    monkeypatch.setattr(search, "CAPPED", 2)
    viewer = await client_as("viewer")
    html = (await viewer.get("/inbox", params={"q": "@mastodon.example", "sort": "date"})).text
    assert row_order(html, seeded) == [c.id for c in reversed(seeded.conversations[1:])]
    assert '<span class="count">2+</span>' in html
    assert "Showing the conversations among the newest 2 matches" in html
    headers = await token(runtime, world.workspace.id, "viewer")
    response = await client.get(
        "/api/v1/conversations", params={"q": "@mastodon.example"}, headers=headers
    )
    assert response.json()["search_capped"] is True
    assert len(response.json()["items"]) == 2
    monkeypatch.setattr(search, "CAPPED", 3)
    html = (await viewer.get("/inbox", params={"q": "@mastodon.example"})).text
    assert '<span class="count">3</span>' in html
    assert "Showing the conversations among" not in html
    response = await client.get(
        "/api/v1/conversations", params={"q": "@mastodon.example"}, headers=headers
    )
    assert response.json()["search_capped"] is False
    assert len(response.json()["items"]) == 3
