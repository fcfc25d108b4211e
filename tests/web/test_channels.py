"""Channel pages: who may see and change what, connecting an RSS feed and a Mastodon account
against local servers, health, pause, reconnect and removal."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select, update
from werkzeug import Request, Response

from allsang import channels
from allsang.connectors.base import ChannelContext, Connector
from allsang.connectors.mastodon import MastodonConnector
from allsang.connectors.rss import RssConnector
from allsang.db.models import AuditEvent, Channel, Message, Workspace
from allsang.ingest.pipeline import ChannelRef, Pipeline
from allsang.runtime import Runtime
from tests.web.conftest import ClientFactory, World

REPOSITORY = Path(__file__).resolve().parents[2]
MASTODON_FIXTURES = REPOSITORY / "src/allsang/connectors/mastodon/fixtures"
CONNECTORS: dict[str, type[Connector]] = {"rss": RssConnector, "mastodon": MastodonConnector}


def payloads() -> Path:
    shared = Path(os.environ.get("ALLSANG_SHARED_DIR") or REPOSITORY.parent / "shared")
    folder = shared / "data" / "payloads"
    if not folder.is_dir():
        pytest.skip(f"the recorded payloads are not here ({folder}); set ALLSANG_SHARED_DIR")
    return folder


def serve_feed(server: HTTPServer, name: str = "feedreader2.xml") -> str:
    body = (payloads() / "home-assistant-feedreader" / name).read_bytes()
    server.expect_request("/feed.xml").respond_with_data(
        body, content_type="application/rss+xml; charset=utf-8"
    )
    return server.url_for("/feed.xml")


async def audit_actions(runtime: Runtime) -> list[str]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


async def ingest_once(runtime: Runtime, channel_id: int) -> int:
    """One listen pass of the channel's connector, with its stored configuration and
    credentials, through the pipeline; returns how many messages were stored."""
    async with runtime.db.read() as session:
        channel = await session.get(Channel, channel_id)
    assert channel is not None
    # Not through the registry: loading every installed plug-in (the atproto SDK) takes seconds.
    connector = CONNECTORS[channel.network](
        ChannelContext(
            channel_id=channel.id,
            account=channel.account,
            config=channel.config,
            credentials=channels.open_credentials(runtime.secrets, channel.credentials),
        )
    )
    ref = ChannelRef(channel.id, channel.workspace_id, channel.network)
    pipeline = Pipeline(runtime.db)
    stored = 0
    async for batch in connector.listen(dict(channel.cursor)):
        result = await pipeline.ingest(ref, batch.items, connector.normalise, cursor=batch.cursor)
        stored += result.accepted
    return stored


# Permissions ----------------------------------------------------------------------------------


async def test_everyone_sees_channels_but_only_editors_connect_and_only_admins_remove(
    client_as: ClientFactory, world: World, runtime: Runtime
) -> None:
    async with runtime.db.write() as session:
        channel = Channel(workspace_id=world.workspace.id, network="rss", name="Press room")
        session.add(channel)
    viewer, contributor, editor = [await client_as(r) for r in ("viewer", "contributor", "editor")]
    listing = await viewer.get("/channels")
    assert listing.status_code == 200 and "Press room" in listing.text
    assert "Connect a channel" not in listing.text
    assert (await viewer.get(f"/channels/{channel.id}")).status_code == 200
    assert (await viewer.get("/channels/connect")).status_code == 403
    assert (await contributor.post(f"/channels/{channel.id}/pause")).status_code == 403
    assert (await editor.get("/channels/connect")).status_code == 200
    assert (await editor.post(f"/channels/{channel.id}/delete")).status_code == 403
    page = (await editor.get(f"/channels/{channel.id}")).text
    assert "Pause" in page and "Remove channel" not in page


async def test_a_channel_of_another_workspace_is_not_found(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    async with runtime.db.write() as session:
        other = Workspace(slug="other", name="Other")
        session.add(other)
        await session.flush()
        theirs = Channel(workspace_id=other.id, network="rss", name="Their feed")
        session.add(theirs)
    owner = await client_as("owner")
    assert (await owner.get(f"/channels/{theirs.id}")).status_code == 404
    assert (await owner.post(f"/channels/{theirs.id}/delete")).status_code == 404
    assert "Their feed" not in (await owner.get("/channels")).text


# RSS ------------------------------------------------------------------------------------------


async def test_an_editor_connects_a_feed_and_sees_it_healthy_after_an_ingest_pass(
    client_as: ClientFactory, runtime: Runtime, httpserver: HTTPServer
) -> None:
    url = serve_feed(httpserver)
    editor = await client_as("editor")
    response = await editor.post("/channels/rss", data={"url": url, "name": ""})
    assert response.status_code == 303
    assert response.headers["location"].endswith("?ok=connected")
    async with runtime.db.read() as session:
        channel = (await session.scalars(select(Channel))).one()
    assert (channel.network, channel.account, channel.state) == ("rss", url, "active")
    assert channel.name == "RSS Sample"  # the feed's own title
    assert channel.config["url"] == url
    assert await audit_actions(runtime) == ["channel.create"]

    assert await ingest_once(runtime, channel.id) == 21
    page = (await editor.get(f"/channels/{channel.id}")).text
    assert "Active" in page and "21" in page
    listing = (await editor.get("/channels")).text
    assert "state-active" in listing and ">21<" in listing


async def test_an_address_that_is_not_a_feed_gets_a_clear_error(
    client_as: ClientFactory, runtime: Runtime, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/page").respond_with_data(
        "<!doctype html><html><head><title>Hi</title></head><body>Hello</body></html>",
        content_type="text/html",
    )
    httpserver.expect_request("/gone").respond_with_data("", status=404)
    editor = await client_as("editor")
    for url, words in (
        ("ftp://example.com/feed", "full address"),
        ("not a url", "full address"),
        (httpserver.url_for("/page"), "did not give a feed"),
        (httpserver.url_for("/gone"), "did not give a feed"),
    ):
        response = await editor.post("/channels/rss", data={"url": url})
        assert response.status_code == 422, url
        assert words in response.text, url
        assert 'aria-invalid="true"' in response.text
    async with runtime.db.read() as session:
        assert list(await session.scalars(select(Channel))) == []


# Mastodon -------------------------------------------------------------------------------------


class FakeInstance:
    """The OAuth and account endpoints of a Mastodon server, answering with recorded entity
    shapes, and a notifications timeline for one ingest pass."""

    def __init__(self, server: HTTPServer, token: str = "mastodon-token") -> None:
        self.server = server
        self.token = token
        self.apps: list[dict[str, str]] = []
        self.exchanges: list[dict[str, str]] = []
        entities = payloads() / "mastodon-docs" / "entities"
        self.application = json.loads((entities / "Application.json").read_text())
        self.account = json.loads((entities / "Account.1.json").read_text())
        server.expect_request("/api/v1/apps", method="POST").respond_with_handler(self._apps)
        server.expect_request("/oauth/token", method="POST").respond_with_handler(self._token)
        server.expect_request("/api/v1/accounts/verify_credentials").respond_with_handler(
            self._verify
        )
        server.expect_request("/api/v1/notifications").respond_with_handler(self._notifications)
        server.expect_request("/oauth/authorize").respond_with_handler(self._authorize)

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _apps(self, request: Request) -> Response:
        form = dict(request.form)
        self.apps.append(form)
        body = {
            **self.application,
            "name": form["client_name"],
            "redirect_uri": form["redirect_uris"],
            "redirect_uris": [form["redirect_uris"]],
            "client_id": f"client-{len(self.apps)}",
            "client_secret": f"secret-{len(self.apps)}",
        }
        return Response(json.dumps(body), content_type="application/json")

    def _authorize(self, request: Request) -> Response:
        """The person logs in and allows access at once: back to Allsang with a code."""
        query = urlencode({"code": "good-code", "state": request.args["state"]})
        return Response(status=302, headers={"Location": f"{request.args['redirect_uri']}?{query}"})

    def _token(self, request: Request) -> Response:
        form = dict(request.form)
        self.exchanges.append(form)
        if form.get("code") != "good-code":
            body = {"error": "invalid_grant", "error_description": "The code is not valid."}
            return Response(json.dumps(body), status=400, content_type="application/json")
        body = {
            "access_token": self.token,
            "token_type": "Bearer",
            "scope": "read write",
            "created_at": 1754056930,
        }
        return Response(json.dumps(body), content_type="application/json")

    def _verify(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            body = {"error": "The access token is invalid"}
            return Response(json.dumps(body), status=401, content_type="application/json")
        return Response(json.dumps(self.account), content_type="application/json")

    def _notifications(self, request: Request) -> Response:
        reply = json.loads((MASTODON_FIXTURES / "reply_notification.json").read_text())
        parent = json.loads(json.dumps(reply))
        parent["id"] = "24"
        parent["status"].update(
            id=reply["status"]["in_reply_to_id"], in_reply_to_id=None, content="<p>Hej!</p>"
        )
        page = [] if request.args.get("min_id") else [reply, parent]
        return Response(json.dumps(page), content_type="application/json")


def _consent_url(response: httpx.Response) -> str:
    """Where the page sends the browser: the instance's consent page."""
    assert response.status_code == 200, response.text
    match = re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', response.text)
    assert match, "no refresh to the instance"
    return html.unescape(match.group(1))


def _state_from(location: str) -> str:
    return parse_qs(urlsplit(location).query)["state"][0]


async def test_an_editor_connects_a_mastodon_account_through_oauth(
    client_as: ClientFactory, runtime: Runtime, httpserver: HTTPServer
) -> None:
    fake = FakeInstance(httpserver)
    editor = await client_as("editor")
    started = await editor.post("/channels/mastodon", data={"instance": fake.url})
    location = _consent_url(started)
    assert location.startswith(f"{fake.url}/oauth/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == ["client-1"]
    assert query["redirect_uri"] == ["http://testserver/channels/mastodon/callback"]
    assert fake.apps[0]["redirect_uris"] == "http://testserver/channels/mastodon/callback"
    async with runtime.db.read() as session:
        pending = (await session.scalars(select(Channel))).one()
    assert pending.state == "pending" and b"secret-1" not in (pending.credentials or b"")
    assert channels.open_credentials(runtime.secrets, pending.credentials) == {
        "client_id": "client-1",
        "client_secret": "secret-1",
    }

    # The instance sends the person back with a code and the state.
    state = _state_from(location)
    callback = await editor.get(
        "/channels/mastodon/callback", params={"code": "good-code", "state": state}
    )
    assert callback.status_code == 303
    assert callback.headers["location"] == f"/channels/{pending.id}?ok=connected"
    assert fake.exchanges[0]["client_secret"] == "secret-1"
    async with runtime.db.read() as session:
        channel = await session.get(Channel, pending.id)
    assert channel is not None
    assert (channel.state, channel.account) == ("active", "@noiob@awoo.space")
    assert "oauth" not in channel.config and channel.config["instance"] == fake.url
    credentials = channels.open_credentials(runtime.secrets, channel.credentials)
    assert credentials["access_token"] == "mastodon-token"
    assert await audit_actions(runtime) == ["channel.create", "channel.connect"]

    # The same link cannot be used twice.
    replay = await editor.get(
        "/channels/mastodon/callback", params={"code": "good-code", "state": state}
    )
    assert replay.status_code == 400

    # One ingest pass with what was stored: the reply joins its parent's conversation.
    assert await ingest_once(runtime, channel.id) == 2
    async with runtime.db.read() as session:
        threads = set(await session.scalars(select(Message.conversation_id)))
    assert len(threads) == 1 and None not in threads
    assert "@noiob@awoo.space" in (await editor.get("/channels")).text


async def test_a_wrong_or_foreign_oauth_state_is_refused(
    client_as: ClientFactory, runtime: Runtime, httpserver: HTTPServer
) -> None:
    fake = FakeInstance(httpserver)
    editor, admin = await client_as("editor"), await client_as("admin")
    started = await editor.post("/channels/mastodon", data={"instance": fake.url})
    state = _state_from(_consent_url(started))
    channel_id, _dot, _secret = state.partition(".")
    for who, params in (
        (editor, {"code": "good-code", "state": f"{channel_id}.guessed"}),
        (editor, {"code": "good-code", "state": "nonsense"}),
        (admin, {"code": "good-code", "state": state}),  # started by someone else
        (editor, {"error": "access_denied", "state": state}),
    ):
        response = await who.get("/channels/mastodon/callback", params=params)
        assert response.status_code == 400, params
    bad_code = await editor.get(
        "/channels/mastodon/callback", params={"code": "stale", "state": state}
    )
    assert bad_code.status_code == 400 and "The code is not valid." in bad_code.text
    assert fake.exchanges and not any(e["code"] == "good-code" for e in fake.exchanges)
    async with runtime.db.read() as session:
        assert (await session.scalars(select(Channel.state))).one() == "pending"


async def test_a_pasted_access_token_connects_an_account_after_checking_it(
    client_as: ClientFactory, runtime: Runtime, httpserver: HTTPServer
) -> None:
    fake = FakeInstance(httpserver)
    editor = await client_as("editor")
    wrong = await editor.post(
        "/channels/mastodon/token", data={"instance": fake.url, "token": "nope"}
    )
    assert wrong.status_code == 422 and "did not accept" in wrong.text
    response = await editor.post(
        "/channels/mastodon/token",
        data={"instance": fake.url, "token": "mastodon-token", "name": "Support"},
    )
    assert response.status_code == 303
    async with runtime.db.read() as session:
        channel = (await session.scalars(select(Channel))).one()
    assert (channel.name, channel.account, channel.state) == (
        "Support",
        "@noiob@awoo.space",
        "active",
    )
    assert channels.open_credentials(runtime.secrets, channel.credentials) == {
        "access_token": "mastodon-token"
    }


async def test_an_unreachable_instance_is_a_form_error(
    client_as: ClientFactory, runtime: Runtime, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/api/v1/apps", method="POST").respond_with_data("", status=503)
    editor = await client_as("editor")
    response = await editor.post("/channels/mastodon", data={"instance": httpserver.url_for("/")})
    assert response.status_code == 422 and "did not accept" in response.text
    empty = await editor.post("/channels/mastodon", data={"instance": "  "})
    assert empty.status_code == 422
    async with runtime.db.read() as session:
        assert list(await session.scalars(select(Channel))) == []


# Health, reconnect, pause, edit, delete ---------------------------------------------------


async def _mastodon_channel(runtime: Runtime, world: World, url: str, **values: Any) -> Channel:
    credentials = {"access_token": "revoked", "client_id": "client-9", "client_secret": "s9"}
    async with runtime.db.write() as session:
        channel = Channel(
            workspace_id=world.workspace.id,
            network="mastodon",
            name="Our account",
            account="@us@social.example",
            config={"instance": url},
            credentials=channels.seal_credentials(runtime.secrets, credentials),
            **values,
        )
        session.add(channel)
    return channel


async def test_reconnect_needed_is_shown_to_those_who_may_reconnect_and_fixed_by_them(
    client_as: ClientFactory, runtime: Runtime, world: World, httpserver: HTTPServer
) -> None:
    fake = FakeInstance(httpserver)
    channel = await _mastodon_channel(
        runtime, world, fake.url, state="reconnect_needed", last_error="401 token revoked"
    )
    contributor, editor = await client_as("contributor"), await client_as("editor")
    assert "needs reconnecting" not in (await contributor.get("/")).text
    home = (await editor.get("/")).text
    assert "needs reconnecting" in home and f"/channels/{channel.id}" in home
    listing = (await editor.get("/channels")).text
    assert "Reconnect needed" in listing and "401 token revoked" in listing
    assert f"/channels/{channel.id}/reconnect" in listing
    assert f"/channels/{channel.id}/reconnect" not in (await contributor.get("/channels")).text
    assert (await contributor.post(f"/channels/{channel.id}/reconnect")).status_code == 403

    started = await editor.post(f"/channels/{channel.id}/reconnect")
    consent = _consent_url(started)
    assert parse_qs(urlsplit(consent).query)["client_id"] == ["client-9"]
    assert fake.apps == []  # the app registered before is used again
    done = await editor.get(
        "/channels/mastodon/callback",
        params={"code": "good-code", "state": _state_from(consent)},
    )
    assert done.headers["location"] == f"/channels/{channel.id}?ok=reconnected"
    async with runtime.db.read() as session:
        fixed = await session.get(Channel, channel.id)
    assert fixed is not None and fixed.state == "active"
    credentials = channels.open_credentials(runtime.secrets, fixed.credentials)
    assert credentials["access_token"] == "mastodon-token"
    assert await audit_actions(runtime) == ["channel.reconnect"]
    assert "needs reconnecting" not in (await editor.get("/")).text


async def test_pause_resume_edit_and_delete_each_leave_an_audit_event(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    channel = await _mastodon_channel(runtime, world, "https://social.example")
    editor, admin = await client_as("editor"), await client_as("admin")
    paused = await editor.post(f"/channels/{channel.id}/pause")
    assert paused.headers["location"].endswith("?ok=paused")
    assert "state-paused" in (await editor.get("/channels")).text
    await editor.post(f"/channels/{channel.id}/resume")
    saved = await editor.post(
        f"/channels/{channel.id}",
        data={"name": "Kundtjänst", "hashtags": "#allsang, kommun,#allsang", "keywords": "öppet"},
    )
    assert saved.status_code == 303
    invalid = await editor.post(f"/channels/{channel.id}", data={"name": ""})
    assert invalid.status_code == 422
    foreign = await editor.post(
        f"/channels/{channel.id}", data={"name": "X", "department_id": "999"}
    )
    assert foreign.status_code == 422
    async with runtime.db.read() as session:
        edited = await session.get(Channel, channel.id)
    assert edited is not None and edited.state == "active" and edited.name == "Kundtjänst"
    assert edited.config["hashtags"] == ["allsang", "kommun"]
    assert edited.config["keywords"] == ["öppet"]
    deleted = await admin.post(f"/channels/{channel.id}/delete")
    assert deleted.headers["location"] == "/channels?ok=deleted"
    async with runtime.db.read() as session:
        assert await session.get(Channel, channel.id) is None
        events = list(await session.execute(select(AuditEvent.action, AuditEvent.actor)))
    assert [action for action, _actor in events] == [
        "channel.pause",
        "channel.resume",
        "channel.update",
        "channel.delete",
    ]


async def test_health_shows_lag_token_expiry_and_the_last_error(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    from datetime import timedelta

    from allsang.db.types import utcnow

    channel = await _mastodon_channel(runtime, world, "https://social.example")
    async with runtime.db.write() as session:
        await session.execute(
            update(Channel)
            .where(Channel.id == channel.id)
            .values(
                state="failing",
                last_item_at=utcnow() - timedelta(hours=3),
                last_success_at=utcnow(),
                token_expires_at=utcnow() + timedelta(days=5),
                last_error="HTTP 500 from <script>alert(1)</script>",
                last_error_at=utcnow(),
            )
        )
    page = (await (await client_as("viewer")).get(f"/channels/{channel.id}")).text
    assert "Failing" in page and "3 hours" in page and "expires in 5 days" in page
    assert "&lt;script&gt;" in page and "<script>alert" not in page


async def test_editing_a_channel_keeps_settings_its_form_does_not_show(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    config = {"keywords": ["allsang"], "url": "https://example.com/feed.xml"}
    async with runtime.db.write() as session:
        channel = Channel(
            workspace_id=world.workspace.id, network="bluesky", name="Sky", config=config
        )
        session.add(channel)
    editor = await client_as("editor")
    assert 'name="keywords"' not in (await editor.get(f"/channels/{channel.id}")).text
    await editor.post(f"/channels/{channel.id}", data={"name": "Bluesky search"})
    async with runtime.db.read() as session:
        edited = await session.get(Channel, channel.id)
    assert edited is not None and edited.name == "Bluesky search" and edited.config == config
