"""Wall admin pages and the screen page, through the app (the stream is in test_walls_live)."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from allsang.db.models import AuditEvent, Channel, Wall
from allsang.runtime import Runtime
from allsang.wall import service
from tests.wall.helpers import post
from tests.web.conftest import ClientFactory, World


async def make_wall(editor: httpx.AsyncClient, **extra: str) -> int:
    form = {
        "name": "Entrance",
        "title": "Welcome to Acme",
        "hashtag": "#AcmeDay",
        "event_url": "https://acme.test/day",
        "layout": "grid",
        "background": "#102030",
        "foreground": "#ffffff",
        "accent": "#ffcc00",
        "moderation": "manual",
        "hashtags": "acmeday",
        "blocklist": "fan\nlort*",
        **extra,
    }
    response = await editor.post("/walls/new", data=form)
    assert response.status_code == 303, response.text
    return int(re.search(r"/walls/(\d+)/queue", response.headers["location"]).group(1))  # type: ignore[union-attr]


async def channel_ref(runtime: Runtime, world: World):  # type: ignore[no-untyped-def]
    from allsang.ingest.pipeline import ChannelRef

    async with runtime.db.write() as session:
        channel = Channel(workspace_id=world.workspace.id, network="webhook", name="Hook")
        session.add(channel)
        await session.flush()
        return ChannelRef(channel.id, world.workspace.id, "webhook")


async def test_an_editor_creates_a_wall_with_sources_and_rules(
    client_as: ClientFactory, runtime: Runtime
) -> None:
    editor = await client_as("editor")
    wall_id = await make_wall(editor)
    async with runtime.db.read() as session:
        wall = await session.get(Wall, wall_id)
        assert wall is not None and wall.hashtag == "acmeday"
        assert await service.sources_of(session, wall_id) == [
            service.Source("hashtag", hashtag="acmeday")
        ]
        assert [r.kind for r in await service.rules_of(session, wall_id)] == ["blocklist"]
        assert await session.scalar(
            select(AuditEvent.action).where(AuditEvent.action == "wall.create")
        )
    page = await editor.get(f"/walls/{wall_id}/edit")
    assert "lort*" in page.text
    listing = await editor.get("/walls")
    assert "Entrance" in listing.text


async def test_a_bad_colour_is_refused_with_the_form_kept(client_as: ClientFactory) -> None:
    editor = await client_as("editor")
    response = await editor.post("/walls/new", data={"name": "X", "background": "red;}"})
    assert response.status_code == 422
    assert "#rrggbb" in response.text


async def test_viewers_see_walls_but_cannot_moderate_or_manage(client_as: ClientFactory) -> None:
    editor = await client_as("editor")
    wall_id = await make_wall(editor)
    viewer = await client_as("viewer")
    assert (await viewer.get(f"/walls/{wall_id}/queue")).status_code == 200
    assert (await viewer.get("/walls/new")).status_code == 403
    assert (await viewer.post(f"/walls/{wall_id}/token")).status_code == 403


async def test_the_display_token_is_shown_once_and_opens_the_screen_without_login(
    client_as: ClientFactory, client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    editor = await client_as("editor")
    wall_id = await make_wall(editor)
    page = await editor.post(f"/walls/{wall_id}/token")
    token = re.search(r"token=(alw_[\w-]+)", page.text).group(1)  # type: ignore[union-attr]
    assert token not in (await editor.get(f"/walls/{wall_id}/queue")).text

    screen = await client.get(f"/walls/{wall_id}", params={"token": token})
    assert screen.status_code == 200
    assert "Welcome to Acme" in screen.text and "#acmeday" in screen.text
    assert "<svg" in screen.text  # the QR code for the event page
    theme = await client.get(f"/walls/{wall_id}/theme.css", params={"token": token})
    assert "--wall-bg:#102030" in theme.text

    # A token that opens nothing tells the TV so instead of asking it to log in.
    wrong = await client.get(f"/walls/{wall_id}", params={"token": "alw_wrong"})
    assert wrong.status_code == 410 and "This screen is no longer valid" in wrong.text
    assert (await editor.post(f"/walls/{wall_id}/revoke")).status_code == 303
    revoked = await client.get(f"/walls/{wall_id}", params={"token": token})
    assert revoked.status_code == 410
    assert "Ask an administrator for a new link." in revoked.text
    # Without any token, anonymous visitors still go to the login page.
    assert (await client.get(f"/walls/{wall_id}")).status_code == 303


async def test_a_token_opens_only_its_own_wall(
    client_as: ClientFactory, client: httpx.AsyncClient
) -> None:
    editor = await client_as("editor")
    first = await make_wall(editor)
    second = await make_wall(editor, name="Hall")
    page = await editor.post(f"/walls/{first}/token")
    token = re.search(r"token=(alw_[\w-]+)", page.text).group(1)  # type: ignore[union-attr]
    assert (await client.get(f"/walls/{second}", params={"token": token})).status_code == 410
    other = await client.get(f"/walls/{second}/theme.css", params={"token": token})
    assert other.status_code == 410 and "--wall-bg" not in other.text


async def test_moderators_approve_pin_and_ban_from_the_queue(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    editor = await client_as("editor")
    wall_id = await make_wall(editor)
    ref = await channel_ref(runtime, world)
    good = await post(runtime.db, ref, "Hello #AcmeDay", handle="anna")
    troll = await post(runtime.db, ref, "Buy now #acmeday", handle="troll")
    blocked = await post(runtime.db, ref, "Lortefilm #acmeday", handle="bo")
    queue = await editor.get(f"/walls/{wall_id}/queue")
    assert f'id="item-{good}"' in queue.text and "blocklist: lort*" in queue.text
    approved = await editor.post(
        f"/walls/{wall_id}/items/{good}/approve", headers={"hx-request": "true"}
    )
    assert approved.status_code == 200 and f'id="item-{good}"' in approved.text
    await editor.post(f"/walls/{wall_id}/items/{troll}/pin")
    banned = await editor.post(
        f"/walls/{wall_id}/items/{troll}/ban", headers={"hx-request": "true"}
    )
    assert banned.headers["hx-refresh"] == "true"
    async with runtime.db.read() as session:
        kinds = [(e.kind, e.message_id) for e in await service.events_after(session, wall_id, 0)]
    assert kinds == [("add", good), ("add", troll), ("pin", troll), ("remove", troll)]
    assert blocked not in [m for _k, m in kinds]
    missing = await editor.post(f"/walls/{wall_id}/items/999999/approve")
    assert missing.status_code == 404
