"""Reading networks back after an interrupted attempt: Mastodon's HTML and Bluesky's feed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_httpserver import HTTPServer

from allsang.connectors.base import ChannelContext
from allsang.publishing import readback
from tests.connectors.bluesky.conftest import make_jwt
from tests.publishing.fake_mastodon import FakeMastodon

TEXT = "Öppet hus <b>torsdag</b> & fredag\nVälkomna!"
DID = "did:plc:5c2r73erhng4bszmxlfdtscf"


def test_a_status_html_compares_equal_to_the_plain_text_that_was_sent() -> None:
    html = "<p>Öppet hus &lt;b&gt;torsdag&lt;/b&gt; &amp; fredag<br />Välkomna!</p>"
    assert readback.comparable(html) == " ".join(TEXT.split())


async def test_mastodon_read_back_matches_text_and_time_and_skips_known_posts(
    httpserver: HTTPServer,
) -> None:
    fake = FakeMastodon(httpserver)
    context = ChannelContext(1, "@acme", {"instance": fake.url}, {"access_token": "t"})
    since = datetime.now(UTC)
    assert await readback.mastodon(context, TEXT, since, frozenset()) is None
    fake.statuses.append(fake._status(TEXT))
    fake.statuses.append(fake._status(TEXT))
    found = await readback.mastodon(context, TEXT, since, frozenset({"1001"}))
    assert found is not None and found.external_id == "1000"
    later = since + timedelta(hours=1)
    assert await readback.mastodon(context, TEXT, later, frozenset()) is None


def _feed_item(uri: str, text: str, created: datetime, reason: Any = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "post": {
            "uri": uri,
            "cid": "bafy",
            "author": {"did": DID, "handle": "acme.bsky.social"},
            "record": {
                "$type": "app.bsky.feed.post",
                "text": text,
                "createdAt": created.isoformat().replace("+00:00", "Z"),
            },
            "indexedAt": created.isoformat().replace("+00:00", "Z"),
        }
    }
    if reason is not None:
        item["reason"] = reason
    return item


async def test_bluesky_read_back_finds_the_post_in_the_author_feed(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
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
    now = datetime.now(UTC)
    uri = f"at://{DID}/app.bsky.feed.post/3lxyz"
    httpserver.expect_request("/xrpc/app.bsky.feed.getAuthorFeed").respond_with_json(
        {
            "feed": [
                _feed_item(f"at://{DID}/app.bsky.feed.post/3repost", TEXT, now, {"$type": "r"}),
                _feed_item(uri, TEXT, now),
                _feed_item(f"at://{DID}/app.bsky.feed.post/3old", TEXT, now - timedelta(days=1)),
            ]
        }
    )
    context = ChannelContext(
        1,
        "acme.bsky.social",
        {"service": httpserver.url_for("").rstrip("/"), "follow_pds": False, "timeout": 5.0},
        {"handle": "acme.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
    )
    found = await readback.bluesky(context, TEXT, now - timedelta(minutes=1), frozenset())
    assert found is not None and found.external_id == uri
    assert found.url.endswith("/post/3lxyz")
    assert await readback.bluesky(context, TEXT, now, frozenset({uri})) is None
