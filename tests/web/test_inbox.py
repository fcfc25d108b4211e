"""The inbox list and conversation pages: filters, paging, read state, saved views, changes
with their audit trail, notes with mentions, and replies through the channel's connector."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from allsang.connectors import registry
from allsang.connectors.base import ChannelContext, PermanentError, Sent
from allsang.db.models import AuditEvent, Conversation, Message, Notification
from allsang.runtime import Runtime
from tests.inbox.seed import Seeded, seed
from tests.web.conftest import ClientFactory, World


@pytest.fixture
async def seeded(runtime: Runtime, world: World) -> Seeded:
    return await seed(runtime.db, world.workspace.id)


def row_order(html: str, seeded: Seeded) -> list[int]:
    positions = {
        c.id: html.find(f'data-conversation="{c.id}"')
        for c in seeded.conversations
        if f'data-conversation="{c.id}"' in html
    }
    return sorted(positions, key=positions.__getitem__)


async def test_the_inbox_lists_conversations_newest_first_with_escaped_text(
    client_as: ClientFactory, seeded: Seeded
) -> None:
    viewer = await client_as("viewer")
    response = await viewer.get("/inbox")
    assert response.status_code == 200
    html = response.text
    assert row_order(html, seeded) == [c.id for c in reversed(seeded.conversations)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "second line" not in html  # only the first line
    assert "Ola Nordmann" in html and "Acme on Mastodon" in html
    assert 'class="badge sentiment-neg"' in html
    assert '<a href="/inbox"' in html.split("<main")[0]  # in the main navigation


async def test_filters_narrow_the_list_and_counts_follow_them(
    client_as: ClientFactory, seeded: Seeded, world: World, runtime: Runtime
) -> None:
    first, second, third = seeded.conversations
    async with runtime.db.write() as session:
        row = await session.get(Conversation, first.id)
        assert row is not None
        row.assignee_id = world.people["editor"].id
        row.status = "open"
        done = await session.get(Conversation, third.id)
        assert done is not None
        done.waiting_since = None
    editor = await client_as("editor")

    async def shown(query: str) -> list[int]:
        return row_order((await editor.get(f"/inbox?{query}")).text, seeded)

    assert await shown("assignee=me") == [first.id]
    assert await shown("assignee=unassigned") == [third.id, second.id]
    assert await shown("status=open") == [first.id]
    assert await shown("language=nb") == [second.id]
    assert await shown("sentiment=pos") == [third.id]
    assert await shown("unanswered=1") == [second.id, first.id]
    assert await shown(f"channel={seeded.channel.id}&status=new") == [third.id, second.id]
    assert await shown("status=bogus&language=<x>") == [third.id, second.id, first.id]
    html = (await editor.get("/inbox?assignee=unassigned")).text
    assert '<span class="count">2</span>' in html  # All, under the assignee filter


async def test_pages_follow_each_other_by_keyset_without_gaps_or_repeats(
    runtime: Runtime, world: World, seeded: Seeded
) -> None:
    from allsang.inbox.listing import InboxFilter, list_inbox

    seen: list[int] = []
    after = None
    async with runtime.db.read() as session:
        for _ in range(3):
            page = await list_inbox(
                session, world.workspace.id, None, InboxFilter(), after=after, limit=2
            )
            seen += [row.conversation.id for row in page.rows]
            after = page.next_cursor
            if after is None:
                break
    assert seen == [c.id for c in reversed(seeded.conversations)]


async def test_opening_a_conversation_marks_it_read_until_a_new_message_arrives(
    client_as: ClientFactory, seeded: Seeded, runtime: Runtime
) -> None:
    viewer = await client_as("viewer")
    target = seeded.conversations[0]
    marker = f'data-href="/inbox/{target.id}" class="unread"'
    assert marker in (await viewer.get("/inbox")).text
    assert (await viewer.get(f"/inbox/{target.id}")).status_code == 200
    assert marker not in (await viewer.get("/inbox")).text
    from allsang.db.types import utcnow

    async with runtime.db.write() as session:
        row = await session.get(Conversation, target.id)
        assert row is not None
        row.last_message_at = utcnow()
    assert (
        marker.replace('" class="unread"', '" class="unread"') in (await viewer.get("/inbox")).text
    )


async def test_people_save_and_delete_their_own_views_and_viewers_may_not(
    client_as: ClientFactory, seeded: Seeded
) -> None:
    contributor = await client_as("contributor")
    response = await contributor.post(
        "/inbox/views",
        data={"name": "  Norwegian  complaints ", "query": "language=nb&sentiment=neg&junk=1"},
    )
    assert response.status_code == 303
    html = (await contributor.get("/inbox")).text
    assert '<a href="/inbox?language=nb&amp;sentiment=neg">Norwegian complaints</a>' in html
    editor = await client_as("editor")
    assert "Norwegian complaints" not in (await editor.get("/inbox")).text
    viewer = await client_as("viewer")
    assert (await viewer.post("/inbox/views", data={"name": "x"})).status_code == 403
    view_id = html.split('action="/inbox/views/')[1].split("/")[0]
    assert (await editor.post(f"/inbox/views/{view_id}/delete")).status_code == 404
    assert (await contributor.post(f"/inbox/views/{view_id}/delete")).status_code == 303
    assert "Norwegian complaints" not in (await contributor.get("/inbox")).text


async def test_the_conversation_page_shows_the_thread_escaped_with_no_live_links(
    client_as: ClientFactory, seeded: Seeded
) -> None:
    viewer = await client_as("viewer")
    target = seeded.conversations[2]
    html = (await viewer.get(f"/inbox/{target.id}")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Thanks" in html
    assert 'href="https://mastodon.example' not in html
    assert "Kim" in html and "kim@mastodon.example" in html
    assert f'action="/inbox/{target.id}/reply"' not in html  # a viewer gets no reply box
    assert (await viewer.get("/inbox/999999")).status_code == 404


async def test_changes_are_applied_and_audited_and_viewers_are_refused(
    client_as: ClientFactory, seeded: Seeded, runtime: Runtime, world: World
) -> None:
    target = seeded.conversations[1]
    contributor = await client_as("contributor")
    assert (
        await contributor.post(f"/inbox/{target.id}/assign", data={"person": "me"})
    ).status_code == 303
    response = await contributor.post(
        f"/inbox/{target.id}/set",
        data={"status": "pending", "priority": "urgent", "tags": "delivery, Delivery , refund"},
    )
    assert response.status_code == 303
    assert (
        await contributor.post(f"/inbox/{target.id}/set", data={"status": "gone"})
    ).status_code == 422
    viewer = await client_as("viewer")
    assert (
        await viewer.post(f"/inbox/{target.id}/assign", data={"person": "me"})
    ).status_code == 403
    async with runtime.db.read() as session:
        row = await session.get(Conversation, target.id)
        actions = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.resource_id == str(target.id))
                .order_by(AuditEvent.id)
            )
        )
    assert row is not None
    assert (row.assignee_id, row.status, row.priority) == (
        world.people["contributor"].id,
        "pending",
        "urgent",
    )
    assert actions == [
        "conversation.assign",
        "conversation.status",
        "conversation.priority",
        "conversation.tags",
    ]
    html = (await contributor.get("/inbox?tag=1")).text
    assert '<span class="tag">delivery</span> <span class="tag">refund</span>' in html


async def test_a_note_mentioning_someone_notifies_them_in_the_header_until_they_look(
    client_as: ClientFactory, seeded: Seeded, runtime: Runtime, world: World
) -> None:
    target = seeded.conversations[0]
    contributor = await client_as("contributor")
    text = "@editor can you take this? <b>not bold</b> (cc @nobody, mail@editor)"
    assert (
        await contributor.post(f"/inbox/{target.id}/notes", data={"text": text})
    ).status_code == 303
    async with runtime.db.read() as session:
        notified = list(await session.scalars(select(Notification.person_id)))
    assert notified == [world.people["editor"].id]
    editor = await client_as("editor")
    badge = (await editor.get("/inbox/notifications/badge")).text
    assert "1 notification" in badge and f'href="/inbox/{target.id}"' in badge
    assert "Contributor Person mentioned you" in badge
    page = (await editor.get(f"/inbox/{target.id}")).text
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page and "Internal note" in page
    assert "notification" not in (await editor.get("/inbox/notifications/badge")).text


class FakeMastodon:
    """A Conversing connector that records replies (the Mastodon wire is tested in the
    browser test against a fake server)."""

    network: ClassVar[str] = "mastodon"
    capabilities: ClassVar[frozenset[str]] = frozenset({"converse"})
    sent: ClassVar[list[tuple[str, str]]] = []
    fail: ClassVar[bool] = False

    def __init__(self, context: ChannelContext) -> None:
        self.context = context

    async def reply(self, in_reply_to: str, text: str) -> Sent:
        if self.fail:
            raise PermanentError("the status was deleted")
        self.sent.append((in_reply_to, text))
        return Sent(external_id="9001", url="https://mastodon.example/@acme/9001")

    async def direct_message(self, handle: str, text: str) -> Sent:
        raise AssertionError("not used")

    def listen(self, cursor: dict[str, Any]) -> Any:
        raise AssertionError("not used")

    def normalise(self, raw: Any) -> Any:
        raise AssertionError("not used")


@pytest.fixture
def fake_mastodon(monkeypatch: pytest.MonkeyPatch) -> type[FakeMastodon]:
    FakeMastodon.sent = []
    FakeMastodon.fail = False
    monkeypatch.setattr(registry, "connector_class", lambda network: FakeMastodon)
    return FakeMastodon


async def test_a_reply_goes_out_through_the_connector_and_is_threaded(
    client_as: ClientFactory,
    seeded: Seeded,
    runtime: Runtime,
    world: World,
    fake_mastodon: type[FakeMastodon],
) -> None:
    target = seeded.conversations[0]
    contributor = await client_as("contributor")
    page = (await contributor.get(f"/inbox/{target.id}")).text
    assert 'data-limit="500"' in page
    response = await contributor.post(
        f"/inbox/{target.id}/reply", data={"text": "God jul! Vi har öppet 10–14."}
    )
    assert response.status_code == 303 and "error" not in response.headers["location"]
    assert fake_mastodon.sent == [("100", "God jul! Vi har öppet 10–14.")]
    async with runtime.db.read() as session:
        row = await session.get(Conversation, target.id)
        reply = await session.scalar(select(Message).where(Message.external_id == "9001"))
        audit_row = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "conversation.reply")
        )
    assert row is not None and reply is not None and audit_row is not None
    assert (reply.direction, reply.conversation_id, reply.in_reply_to) == (
        "outbound",
        target.id,
        "100",
    )
    assert reply.author_person_id == world.people["contributor"].id
    assert row.first_reply_at is not None and row.waiting_since is None
    assert "God jul! Vi har öppet 10–14." in (await contributor.get(f"/inbox/{target.id}")).text


async def test_a_refused_reply_stores_nothing_and_says_why_and_viewers_cannot_reply(
    client_as: ClientFactory, seeded: Seeded, runtime: Runtime, fake_mastodon: type[FakeMastodon]
) -> None:
    target = seeded.conversations[0]
    fake_mastodon.fail = True
    contributor = await client_as("contributor")
    response = await contributor.post(
        f"/inbox/{target.id}/reply", data={"text": "Hello"}, follow_redirects=True
    )
    assert "The reply was not sent: the status was deleted" in response.text
    too_long = await contributor.post(
        f"/inbox/{target.id}/reply", data={"text": "x" * 501}, follow_redirects=True
    )
    assert "at most 500 characters" in too_long.text
    viewer = await client_as("viewer")
    assert (
        await viewer.post(f"/inbox/{target.id}/reply", data={"text": "Hello"})
    ).status_code == 403
    async with runtime.db.read() as session:
        outbound = list(
            await session.scalars(select(Message).where(Message.direction == "outbound"))
        )
        row = await session.get(Conversation, target.id)
    assert outbound == [] and row is not None and row.waiting_since is not None
