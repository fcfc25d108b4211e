"""The quarantine page: open items shown safely, re-processed after a fix, or dismissed."""

from __future__ import annotations

from typing import Any

import httpx
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from allsang.connectors.base import ChannelContext, RawItem
from allsang.connectors.rss import RssConnector
from allsang.db.models import AuditEvent, Channel, Message, QuarantinedItem, Workspace
from allsang.ingest.message import InvalidMessage
from allsang.ingest.pipeline import ChannelRef, Pipeline
from allsang.runtime import Runtime
from tests.web.conftest import ClientFactory, World
from tests.web.test_channels import serve_feed
from tests.web.test_messages_api import message, token


def rejected_by_an_old_bug(_raw: RawItem) -> Any:
    raise InvalidMessage("entry date could not be read")


async def test_items_rejected_by_a_bug_become_messages_when_processed_again(
    client_as: ClientFactory, runtime: Runtime, world: World, httpserver: HTTPServer
) -> None:
    url = serve_feed(httpserver, "feedreader11.xml")
    async with runtime.db.write() as session:
        channel = Channel(
            workspace_id=world.workspace.id, network="rss", name="Press", config={"url": url}
        )
        session.add(channel)
    connector = RssConnector(ChannelContext(channel.id, url, {"url": url}))
    ref = ChannelRef(channel.id, world.workspace.id, "rss")
    async for batch in connector.listen({}):
        await Pipeline(runtime.db).ingest(ref, batch.items, rejected_by_an_old_bug)

    editor = await client_as("editor")
    page = await editor.get("/quarantine")
    assert page.status_code == 200
    assert page.text.count("entry date could not be read") == 3
    assert "Press" in page.text and url in page.text

    done = await editor.post("/quarantine/reprocess")
    assert done.status_code == 303
    assert "resolved=3" in done.headers["location"]
    assert "3 became messages" in (await editor.get(done.headers["location"])).text
    async with runtime.db.read() as session:
        items = list(await session.scalars(select(QuarantinedItem)))
        stored = set(await session.scalars(select(Message.id)))
        events = list(await session.scalars(select(AuditEvent.action)))
    assert len(stored) == 3
    assert all(item.resolved_at is not None for item in items)
    assert {item.message_id for item in items} == stored
    assert events == ["quarantine.reprocess"]
    assert "Nothing is in quarantine." in (await editor.get("/quarantine")).text


async def test_an_item_that_still_fails_keeps_the_new_reason_and_counts_the_attempt(
    client: httpx.AsyncClient, client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    headers = await token(runtime, world.workspace.id)
    broken = message("1")
    del broken["author"]
    await client.post("/api/v1/messages", json=[broken, message("2")], headers=headers)
    async with runtime.db.read() as session:
        item = (await session.scalars(select(QuarantinedItem))).one()
    assert "author" in item.reason

    editor = await client_as("editor")
    response = await editor.post(f"/quarantine/{item.id}/reprocess")
    assert "failed=1" in response.headers["location"]
    async with runtime.db.read() as session:
        again = await session.get(QuarantinedItem, item.id)
    assert again is not None and again.attempts == 2 and again.resolved_at is None
    assert "author" in again.reason

    assert (await editor.post(f"/quarantine/{item.id}/dismiss")).status_code == 303
    async with runtime.db.read() as session:
        dismissed = await session.get(QuarantinedItem, item.id)
        count = await session.scalar(select(func.count()).select_from(Message))
    assert dismissed is not None and dismissed.resolved_at is not None
    assert dismissed.message_id is None and count == 1
    assert (await editor.post(f"/quarantine/{item.id}/dismiss")).status_code == 404


async def test_a_webhook_item_already_stored_resolves_to_the_stored_message(
    client: httpx.AsyncClient, client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    headers = await token(runtime, world.workspace.id)
    await client.post("/api/v1/messages", json=message("7"), headers=headers)
    async with runtime.db.write() as session:
        channel_id = (await session.scalars(select(Channel.id))).one()
        stored = (await session.scalars(select(Message.id))).one()
        item = QuarantinedItem(
            workspace_id=world.workspace.id,
            channel_id=channel_id,
            network="mastodon",
            source="webhook",
            reason="the database was read-only",
            raw=str(message("7")).replace("'", '"'),
        )
        session.add(item)
    await (await client_as("editor")).post(f"/quarantine/{item.id}/reprocess")
    async with runtime.db.read() as session:
        resolved = await session.get(QuarantinedItem, item.id)
    assert resolved is not None and resolved.message_id == stored


async def test_raw_bodies_are_escaped_and_long_ones_folded(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    raw = "<script>alert('x')</script>" + "y" * 2000 + "THE-END"
    async with runtime.db.write() as session:
        session.add(
            QuarantinedItem(
                workspace_id=world.workspace.id,
                network="x",
                source="stream",
                reason="<b>bad</b>",
                raw=raw,
            )
        )
    page = (await (await client_as("admin")).get("/quarantine")).text
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;bad&lt;/b&gt;" in page
    assert "Show all" in page and page.count("THE-END") == 1


async def test_only_editors_and_up_see_or_touch_the_quarantine(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    async with runtime.db.write() as session:
        other = Workspace(slug="other", name="Other")
        session.add(other)
        await session.flush()
        theirs = QuarantinedItem(
            workspace_id=other.id, network="rss", reason="theirs", raw="secret"
        )
        session.add(theirs)
    for role in ("viewer", "contributor"):
        client = await client_as(role)
        assert (await client.get("/quarantine")).status_code == 403, role
    admin = await client_as("admin")
    assert "secret" not in (await admin.get("/quarantine")).text
    assert (await admin.post(f"/quarantine/{theirs.id}/reprocess")).status_code == 404
    assert (await admin.post(f"/quarantine/{theirs.id}/dismiss")).status_code == 404
    await admin.post("/quarantine/reprocess")
    async with runtime.db.read() as session:
        untouched = await session.get(QuarantinedItem, theirs.id)
    assert untouched is not None and untouched.attempts == 1 and untouched.resolved_at is None
