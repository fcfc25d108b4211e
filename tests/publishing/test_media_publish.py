"""Posts with images go out with their files and alt text, against a fake Mastodon instance
speaking the real media API (``POST /api/v2/media``, ``GET /api/v1/media/:id``,
``media_ids[]`` on ``POST /api/v1/statuses``); networks that cannot take media refuse them
at scheduling."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select, update
from werkzeug import Request, Response

from allsang.channels import seal_credentials
from allsang.db.models import Channel
from allsang.db.models.publishing import PostDelivery
from allsang.publishing import engine, media, service
from allsang.publishing.states import InvalidPost
from allsang.runtime import Runtime
from tests.connectors.bluesky.conftest import make_jwt
from tests.publishing.conftest import Newsroom, create_newsroom
from tests.publishing.fake_mastodon import FakeMastodon

DID = "did:plc:5c2r73erhng4bszmxlfdtscf"
TEXT = "Nya bokbussen är här!"
ALT = "En grön buss med böcker i fönstren framför biblioteket"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64


class FakeMastodonWithMedia(FakeMastodon):
    """Adds media as Mastodon does them: uploads keep their description; with ``processing``
    set, an upload answers 202 without a ``url`` and ``GET /api/v1/media/:id`` answers 206
    until it has been asked that many times; a status naming unprocessed media is refused
    with 422."""

    def __init__(self, server: HTTPServer) -> None:
        self.media: dict[str, dict[str, Any]] = {}
        self.uploads: list[dict[str, Any]] = []
        self.processing = 0
        self._attaching: list[dict[str, Any]] = []
        server.expect_request("/api/v2/media", method="POST").respond_with_handler(self._upload)
        server.expect_request(
            re.compile(r"^/api/v1/media/\d+$"), method="GET"
        ).respond_with_handler(self._get_media)
        server.expect_request("/api/v1/statuses", method="POST").respond_with_handler(
            self._post_with_media
        )
        super().__init__(server)

    def _upload(self, request: Request) -> Response:
        file = request.files["file"]
        media_id = str(5000 + len(self.media))
        self.uploads.append(
            {
                "description": request.form.get("description"),
                "mime_type": file.mimetype,
                "content": file.read(),
            }
        )
        self.media[media_id] = {
            "id": media_id,
            "type": "image",
            "url": None,
            "preview_url": f"https://fake.example/media/{media_id}-small.png",
            "remote_url": None,
            "preview_remote_url": None,
            "text_url": None,
            "meta": {},
            "description": request.form.get("description"),
            "blurhash": None,
            "_polls_left": self.processing,
        }
        return self._media_answer(media_id, pending=202)

    def _get_media(self, request: Request) -> Response:
        media_id = request.path.rsplit("/", 1)[1]
        if media_id not in self.media:
            return self._json({"error": "Record not found"}, 404)
        item = self.media[media_id]
        item["_polls_left"] -= 1
        return self._media_answer(media_id, pending=206)

    def _media_answer(self, media_id: str, *, pending: int) -> Response:
        item = self.media[media_id]
        if item["_polls_left"] <= 0:
            item["url"] = f"https://fake.example/media/{media_id}.png"
        body = {k: v for k, v in item.items() if not k.startswith("_")}
        return self._json(body, 200 if item["url"] else pending)

    def _post_with_media(self, request: Request) -> Response:
        ids = request.form.getlist("media_ids[]")
        if any(i not in self.media or not self.media[i]["url"] for i in ids):
            return self._json(
                {"error": "Cannot attach files that have not finished processing"}, 422
            )
        self._attaching = [
            {k: v for k, v in self.media[i].items() if not k.startswith("_")} for i in ids
        ]
        try:
            return self._post(request)
        finally:
            self._attaching = []

    def _status(self, text: str) -> dict[str, Any]:
        return {**super()._status(text), "media_attachments": list(self._attaching)}


@pytest.fixture
def fake(httpserver: HTTPServer) -> FakeMastodonWithMedia:
    return FakeMastodonWithMedia(httpserver)


@pytest.fixture
async def newsroom(runtime: Runtime, fake: FakeMastodonWithMedia) -> Newsroom:
    room = await create_newsroom(runtime, fake.url)
    async with runtime.db.write() as session:
        channel = await session.get(Channel, room.channel_id)
        assert channel is not None
        channel.config = {**channel.config, "media_poll_seconds": 0.01}
    return room


async def _post_with(
    runtime: Runtime, room: Newsroom, channel_id: int, files: list[bytes], alt: str = ALT
) -> int:
    editor = room.actor("editor")
    async with runtime.db.write() as session:
        post = await service.create_draft(session, editor, body=TEXT, channel_ids=[channel_id])
        ids = []
        for content in files:
            row = await media.store_media(
                session,
                editor,
                runtime.settings.data_dir,
                content,
                filename="buss.png",
                alt_text=alt,
            )
            ids.append(row.id)
        await media.attach(session, editor, post.id, channel_id, ids)
        return post.id


async def _publish_now(runtime: Runtime, room: Newsroom, post_id: int) -> int:
    async with runtime.db.write() as session:
        await service.publish_now(session, room.actor("editor"), post_id)
        return (
            await session.scalars(select(PostDelivery.id).where(PostDelivery.post_id == post_id))
        ).one()


async def test_a_post_with_an_image_goes_out_once_with_the_image_and_its_alt_text(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodonWithMedia
) -> None:
    fake.processing = 2  # answered 202, then 206 once, then processed
    post_id = await _post_with(runtime, newsroom, newsroom.channel_id, [PNG])
    delivery_id = await _publish_now(runtime, newsroom, post_id)
    assert await engine.deliver(runtime, delivery_id) == "published"
    assert await engine.deliver(runtime, delivery_id) == "published"  # a second run: no-op
    assert fake.uploads == [{"description": ALT, "mime_type": "image/png", "content": PNG}]
    assert fake.texts() == [TEXT]
    [status] = fake.statuses
    assert [m["id"] for m in status["media_attachments"]] == ["5000"]
    assert status["media_attachments"][0]["description"] == ALT
    assert fake.requests[0]["key"] is not None
    async with runtime.db.read() as session:
        delivery = await session.get(PostDelivery, delivery_id)
        assert delivery is not None
        assert (delivery.external_id, delivery.idempotency_key) == ("1000", fake.requests[0]["key"])


async def test_images_keep_their_order_and_an_interrupted_attempt_is_read_back(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodonWithMedia
) -> None:
    gif = b"GIF89a" + b"\x00" * 64
    post_id = await _post_with(runtime, newsroom, newsroom.channel_id, [gif, PNG])
    delivery_id = await _publish_now(runtime, newsroom, post_id)
    assert await engine.deliver(runtime, delivery_id) == "published"
    assert [u["mime_type"] for u in fake.uploads] == ["image/gif", "image/png"]
    assert [m["id"] for m in fake.statuses[0]["media_attachments"]] == ["5000", "5001"]

    # As if the worker died after the network accepted a second post: read back, not resent.
    again = await _post_with(runtime, newsroom, newsroom.channel_id, [PNG], alt="Bussen igen")
    second = await _publish_now(runtime, newsroom, again)
    fake.statuses.append(fake._status(TEXT))
    async with runtime.db.write() as session:
        await session.execute(
            update(PostDelivery)
            .where(PostDelivery.id == second)
            .values(state="publishing", started_at=datetime.now(UTC))
        )
    assert await engine.deliver(runtime, second) == "published"
    assert len(fake.statuses) == 2 and len(fake.uploads) == 2
    async with runtime.db.read() as session:
        delivery = await session.get(PostDelivery, second)
        assert delivery is not None and delivery.external_id == "1001"


async def test_media_that_never_finish_processing_leave_the_delivery_to_be_retried(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodonWithMedia
) -> None:
    async with runtime.db.write() as session:
        channel = await session.get(Channel, newsroom.channel_id)
        assert channel is not None
        channel.config = {**channel.config, "media_timeout": 0.05}
    fake.processing = 10_000
    post_id = await _post_with(runtime, newsroom, newsroom.channel_id, [PNG])
    delivery_id = await _publish_now(runtime, newsroom, post_id)
    with pytest.raises(engine.RetryLater, match="still processing"):
        await engine.deliver(runtime, delivery_id)
    assert fake.statuses == []  # never posted without its image
    fake.processing = 0
    assert await engine.deliver(runtime, delivery_id) == "published"
    assert len(fake.statuses) == 1 and len(fake.statuses[0]["media_attachments"]) == 1


async def test_networks_without_media_and_media_beyond_the_limits_are_refused_at_scheduling(
    runtime: Runtime, newsroom: Newsroom
) -> None:
    async with runtime.db.write() as session:
        x = Channel(
            workspace_id=newsroom.workspace_id,
            network="x",
            name="Acme on X",
            account="@acme",
            config={},
            credentials=seal_credentials(runtime.secrets, {"access_token": "t0ken"}),
        )
        session.add(x)
        await session.flush()
        x_id = x.id
    on_x = await _post_with(runtime, newsroom, x_id, [PNG])
    async with runtime.db.write() as session:
        with pytest.raises(InvalidPost, match="x channels cannot publish images") as refused:
            await service.publish_now(session, newsroom.actor("editor"), on_x)
    assert refused.value.code == "media"

    mixed = await _post_with(runtime, newsroom, newsroom.channel_id, [MP4, PNG])
    async with runtime.db.write() as session:
        with pytest.raises(InvalidPost, match="video cannot be combined") as refused:
            await service.publish_now(session, newsroom.actor("editor"), mixed)
    assert refused.value.code == "media_limit"


class FakeBluesky:
    """A PDS on pytest-httpserver for publishing: ``createSession``, ``uploadBlob`` (answers
    the blob reference as the real service does) and ``createRecord`` (keeps the records)."""

    def __init__(self, server: HTTPServer) -> None:
        self.blobs: list[tuple[str, bytes]] = []
        self.records: list[dict[str, Any]] = []
        server.expect_request(
            "/xrpc/com.atproto.server.createSession", method="POST"
        ).respond_with_json(
            {
                "did": DID,
                "handle": "acme.bsky.social",
                "accessJwt": make_jwt(time.time() + 3600, DID),
                "refreshJwt": make_jwt(time.time() + 86400, DID),
                "active": True,
            }
        )
        server.expect_request(
            "/xrpc/com.atproto.repo.uploadBlob", method="POST"
        ).respond_with_handler(self._upload)
        server.expect_request(
            "/xrpc/com.atproto.repo.createRecord", method="POST"
        ).respond_with_handler(self._create)
        self.url = server.url_for("").rstrip("/")

    def _upload(self, request: Request) -> Response:
        mime = request.headers.get("Content-Type", "")
        self.blobs.append((mime, request.get_data()))
        link = f"bafkrei{len(self.blobs):052d}"
        body = {
            "blob": {
                "$type": "blob",
                "ref": {"$link": link},
                "mimeType": mime,
                "size": len(request.get_data()),
            }
        }
        return Response(json.dumps(body), content_type="application/json")

    def _create(self, request: Request) -> Response:
        self.records.append(request.get_json()["record"])
        rkey = f"3lmedia{len(self.records)}"
        body = {
            "uri": f"at://{DID}/app.bsky.feed.post/{rkey}",
            "cid": "bafyreihbheiaegwqsy26yxbynveopswyb3yvkq5vnsjdgwqvrx3zkcwqzi",
            "commit": {
                "cid": "bafyreicrh56tn3lahwzqzfl4zxnjwozc7eoylxqmvor3zggvriaco6vzre",
                "rev": "3lprdugksgz2k",
            },
            "validationStatus": "valid",
        }
        return Response(json.dumps(body), content_type="application/json")


async def _bluesky_channel(runtime: Runtime, room: Newsroom, service_url: str) -> int:
    async with runtime.db.write() as session:
        channel = Channel(
            workspace_id=room.workspace_id,
            network="bluesky",
            name="Acme on Bluesky",
            account="acme.bsky.social",
            config={"service": service_url, "follow_pds": False, "stream": False},
            credentials=seal_credentials(
                runtime.secrets,
                {"handle": "acme.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
            ),
        )
        session.add(channel)
        await session.flush()
        return channel.id


async def test_bluesky_posts_embed_the_images_with_alt_text_and_refuse_large_ones(
    runtime: Runtime, newsroom: Newsroom, httpserver: HTTPServer
) -> None:
    pds = FakeBluesky(httpserver)
    channel_id = await _bluesky_channel(runtime, newsroom, pds.url)
    post_id = await _post_with(runtime, newsroom, channel_id, [PNG])
    delivery_id = await _publish_now(runtime, newsroom, post_id)
    assert await engine.deliver(runtime, delivery_id) == "published"
    assert pds.blobs == [("image/png", PNG)]
    [record] = pds.records
    assert record["text"] == TEXT
    assert record["embed"]["$type"] == "app.bsky.embed.images"
    [image] = record["embed"]["images"]
    assert image["alt"] == ALT
    assert image["image"]["ref"]["$link"] == f"bafkrei{1:052d}"

    large = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1_000_000
    too_large = await _post_with(runtime, newsroom, channel_id, [large])
    async with runtime.db.write() as session:
        with pytest.raises(InvalidPost, match=r"at most 1\.0 MB") as refused:
            await service.publish_now(session, newsroom.actor("editor"), too_large)
    assert refused.value.code == "media_limit"
    assert len(pds.records) == 1


async def test_a_media_file_gone_from_the_data_directory_fails_the_delivery_unposted(
    runtime: Runtime, newsroom: Newsroom, fake: FakeMastodonWithMedia
) -> None:
    post_id = await _post_with(runtime, newsroom, newsroom.channel_id, [PNG])
    delivery_id = await _publish_now(runtime, newsroom, post_id)
    for path in (runtime.settings.data_dir / "post-media").rglob("*"):
        if path.is_file():
            path.unlink()
    assert await engine.deliver(runtime, delivery_id) == "failed"
    assert fake.uploads == [] and fake.statuses == []
    async with runtime.db.read() as session:
        delivery = await session.get(PostDelivery, delivery_id)
        assert delivery is not None and "missing" in (delivery.last_error or "")
