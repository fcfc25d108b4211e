"""The inbox workflow on the pages: reply or direct message within the network's limits,
the collision stop with "Send anyway", approval pages, saved replies, snooze and typing."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from allsang.db.models import Conversation, Message
from allsang.db.models.inbox_workflow import PendingReply
from allsang.inbox import presence
from allsang.runtime import Runtime
from tests.inbox.seed import Seeded, seed
from tests.inbox.test_approval import FakeConnector, fake  # noqa: F401 (a fixture)
from tests.web.conftest import ClientFactory, World


@pytest.fixture
async def seeded(runtime: Runtime, world: World) -> Seeded:
    return await seed(runtime.db, world.workspace.id)


def opened_at(html: str) -> str:
    match = re.search(r'name="since" value="(\d+)"', html)
    assert match, "the reply box carries when the page was opened"
    return match.group(1)


async def test_a_second_person_is_stopped_and_may_send_anyway(
    client_as: ClientFactory,
    seeded: Seeded,
    fake: type[FakeConnector],  # noqa: F811
) -> None:
    target = seeded.conversations[0]
    editor = await client_as("editor")
    since = opened_at((await editor.get(f"/inbox/{target.id}")).text)
    contributor = await client_as("contributor")
    first = await contributor.post(
        f"/inbox/{target.id}/send",
        data={
            "text": "Vi har öppet 10–14.",
            "since": opened_at((await contributor.get(f"/inbox/{target.id}")).text),
        },
    )
    assert first.status_code == 303
    stopped = await editor.post(
        f"/inbox/{target.id}/send", data={"text": "Öppet 10 till 14!", "since": since}
    )
    assert stopped.status_code == 409
    assert "this conversation got an answer since you opened it" in stopped.text
    assert "Contributor Person" in stopped.text
    assert "Öppet 10 till 14!</textarea>" in stopped.text
    assert 'name="force" value="1"' in stopped.text and "Send anyway" in stopped.text
    assert [text for _kind, _to, text in fake.sent] == ["Vi har öppet 10–14."]
    anyway = await editor.post(
        f"/inbox/{target.id}/send",
        data={"text": "Öppet 10 till 14!", "since": opened_at(stopped.text), "force": "1"},
    )
    assert anyway.status_code == 303
    assert [text for _kind, _to, text in fake.sent] == ["Vi har öppet 10–14.", "Öppet 10 till 14!"]


async def test_the_networks_limit_is_enforced_with_urls_counted_as_23(
    client_as: ClientFactory,
    seeded: Seeded,
    fake: type[FakeConnector],  # noqa: F811
) -> None:
    target = seeded.conversations[0]
    contributor = await client_as("contributor")
    page = (await contributor.get(f"/inbox/{target.id}")).text
    assert 'data-limit="500"' in page and 'data-counting="mastodon"' in page
    too_long = await contributor.post(f"/inbox/{target.id}/send", data={"text": "a" * 501})
    assert too_long.status_code == 422
    assert "at most 500 characters; this one has 501" in too_long.text
    assert fake.sent == []
    with_link = "a" * 470 + " https://example.com/" + "x" * 300
    assert (
        await contributor.post(f"/inbox/{target.id}/send", data={"text": with_link})
    ).status_code == 303
    assert fake.sent == [("reply", "100", with_link)]


async def test_a_direct_message_goes_to_the_contact_where_the_network_has_them(
    client_as: ClientFactory,
    seeded: Seeded,
    runtime: Runtime,
    fake: type[FakeConnector],  # noqa: F811
) -> None:
    target = seeded.conversations[0]
    contributor = await client_as("contributor")
    page = (await contributor.get(f"/inbox/{target.id}")).text
    assert 'value="direct"' in page and "Direct message" in page and "Public reply" in page
    response = await contributor.post(
        f"/inbox/{target.id}/send", data={"text": "Ditt ordernummer?", "mode": "direct"}
    )
    assert response.status_code == 303
    assert fake.sent == [("direct", "anna@mastodon.example", "Ditt ordernummer?")]
    async with runtime.db.read() as session:
        message = await session.scalar(select(Message).where(Message.external_id == "out-1"))
    assert message is not None and (message.kind, message.in_reply_to) == ("dm", None)


async def test_on_bluesky_a_direct_message_may_have_the_chats_1000_graphemes(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    seeded = await seed(runtime.db, world.workspace.id, network="bluesky")
    contributor = await client_as("contributor")
    target = seeded.conversations[0].id
    page = (await contributor.get(f"/inbox/{target}")).text
    assert 'value="direct" data-limit="1000" data-counting="graphemes"' in page
    assert 'value="reply" data-limit="300"' in page


async def test_where_the_network_has_no_direct_messages_the_box_offers_only_a_public_reply(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    seeded = await seed(runtime.db, world.workspace.id, network="rss")
    contributor = await client_as("contributor")
    target = seeded.conversations[0].id
    page = (await contributor.get(f"/inbox/{target}")).text
    assert 'value="direct"' not in page
    refused = await contributor.post(
        f"/inbox/{target}/send", data={"text": "Hej", "mode": "direct"}
    )
    assert refused.status_code == 422 and "cannot send direct messages" in refused.text


async def test_held_replies_are_approved_or_rejected_on_the_pages(
    client_as: ClientFactory,
    seeded: Seeded,
    runtime: Runtime,
    fake: type[FakeConnector],  # noqa: F811
) -> None:
    admin = await client_as("admin")
    settings_page = (await admin.get("/inbox/settings/saved-replies")).text
    assert "Replies by contributors need an editor" in settings_page
    assert (
        await admin.post("/inbox/settings/approval", data={"reply_approval": "1"})
    ).status_code == 303
    first, second = seeded.conversations[0].id, seeded.conversations[1].id
    contributor = await client_as("contributor")
    assert "Submit for approval" in (await contributor.get(f"/inbox/{first}")).text
    for target, text in ((first, "Hej Anna!"), (second, "Hei Ola")):
        held = await contributor.post(f"/inbox/{target}/send", data={"text": text})
        assert held.status_code == 303 and "ok=reply_held" in held.headers["location"]
    assert fake.sent == []
    assert (await contributor.get("/inbox/approvals")).status_code == 403
    editor = await client_as("editor")
    listing = (await editor.get("/inbox/approvals")).text
    assert "Hej Anna!" in listing and "Hei Ola" in listing
    async with runtime.db.read() as session:
        ids = {p.conversation_id: p.id for p in await session.scalars(select(PendingReply))}
    assert "Approve and send" in (await editor.get(f"/inbox/{first}")).text
    approved = await editor.post(f"/inbox/approvals/{ids[first]}/approve")
    assert approved.status_code == 303
    assert fake.sent == [("reply", "100", "Hej Anna!")]
    rejected = await editor.post(
        f"/inbox/approvals/{ids[second]}/reject?back=list", data={"comment": "Beklaga först"}
    )
    assert rejected.headers["location"].startswith("/inbox/approvals")
    again = await editor.post(f"/inbox/approvals/{ids[second]}/approve")
    assert again.status_code == 409
    badge = (await contributor.get("/inbox/notifications/badge")).text
    assert "approved your reply" in badge and "rejected your reply" in badge
    author_view = (await contributor.get(f"/inbox/{second}")).text
    assert "Your reply was rejected: Beklaga först" in author_view


async def test_saved_replies_are_managed_by_editors_and_filled_in_for_the_conversation(
    client_as: ClientFactory, seeded: Seeded
) -> None:
    target = seeded.conversations[0].id
    contributor = await client_as("contributor")
    assert (await contributor.get("/inbox/settings/saved-replies")).status_code == 403
    editor = await client_as("editor")
    created = await editor.post(
        "/inbox/settings/saved-replies",
        data={
            "name": "Thanks",
            "text": "Tack {contact_name}! /{agent_first_name} på {workspace_name}",
        },
    )
    assert created.status_code == 303
    page = (await contributor.get(f"/inbox/{target}")).text
    saved_id = re.search(r'<option value="(\d+)">Thanks</option>', page)
    assert saved_id, "the picker lists the saved reply"
    text = await contributor.get(f"/inbox/{target}/saved-replies/{saved_id.group(1)}")
    assert text.text == "Tack Anna Berg! /Contributor på Acme"
    assert text.headers["content-type"].startswith("text/plain")
    composed = (await contributor.get(f"/inbox/{target}/compose?saved={saved_id.group(1)}")).text
    assert "Tack Anna Berg! /Contributor på Acme</textarea>" in composed


async def test_snooze_reads_the_time_in_the_viewers_zone(
    client_as: ClientFactory, seeded: Seeded, runtime: Runtime
) -> None:
    target = seeded.conversations[0].id
    contributor = await client_as("contributor")
    year = datetime.now(UTC).year + 1
    response = await contributor.post(
        f"/inbox/{target}/snooze", data={"until": "custom", "at": f"{year}-01-15T09:30"}
    )
    assert response.status_code == 303
    async with runtime.db.read() as session:
        row = await session.get(Conversation, target)
    assert row is not None and row.status == "snoozed"
    # The workspace's zone is Europe/Oslo (UTC+1 in January).
    assert row.snoozed_until == datetime(year, 1, 15, 8, 30, tzinfo=UTC)
    page = (await contributor.get(f"/inbox/{target}")).text
    assert 'id="snoozed-until"' in page and "Wake up now" in page
    past = await contributor.post(
        f"/inbox/{target}/snooze", data={"until": "custom", "at": "2001-01-01T09:00"}
    )
    assert past.status_code == 422
    assert (await contributor.post(f"/inbox/{target}/unsnooze")).status_code == 303
    async with runtime.db.read() as session:
        row = await session.get(Conversation, target)
    assert row is not None and row.status == "open"
    viewer = await client_as("viewer")
    assert (
        await viewer.post(f"/inbox/{target}/snooze", data={"until": "later"})
    ).status_code == 403


async def test_a_typing_beat_shows_the_writer_to_others_and_stops(
    client_as: ClientFactory, seeded: Seeded, world: World
) -> None:
    target = seeded.conversations[0].id
    contributor = await client_as("contributor")
    assert (await contributor.post(f"/inbox/{target}/typing", data={"on": "1"})).status_code == 204
    assert presence.writers(target) == ["Contributor Person"]
    assert presence.writers(target, exclude=world.people["contributor"].id) == []
    assert (await contributor.post(f"/inbox/{target}/typing", data={"on": "0"})).status_code == 204
    assert presence.writers(target) == []
    viewer = await client_as("viewer")
    assert (await viewer.post(f"/inbox/{target}/typing", data={"on": "1"})).status_code == 403
