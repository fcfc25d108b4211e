"""Engagement of published posts, read back with app.bsky.feed.getPosts (recorded)."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from allsang.connectors.base import Engagement
from tests.connectors.bluesky.conftest import connector_for, recorded_body


async def test_it_reads_likes_reposts_and_replies_25_posts_a_call(
    httpserver: HTTPServer, payloads: Path
) -> None:
    recorded = recorded_body(payloads, "f_getposts.yml", "app.bsky.feed.getPosts")["posts"][0]
    uris = [f"{recorded['uri']}{n}" for n in range(30)]
    asked: list[list[str]] = []

    def get_posts(request: Request) -> Response:
        wanted = request.args.getlist("uris")
        asked.append(wanted)
        # The last URI is "deleted": the service leaves it out of its answer.
        posts = [
            {**recorded, "uri": uri, "likeCount": n, "repostCount": 1, "quoteCount": 1}
            for n, uri in enumerate(wanted)
            if uri != uris[-1]
        ]
        return Response(json.dumps({"posts": posts}), content_type="application/json")

    httpserver.expect_request("/xrpc/app.bsky.feed.getPosts").respond_with_handler(get_posts)
    connector = connector_for(service=httpserver.url_for("/").rstrip("/"))

    found = await connector.engagement(uris)

    assert [len(batch) for batch in asked] == [25, 5]
    assert len(found) == 29 and uris[-1] not in found
    assert found[uris[0]] == Engagement(likes=0, reposts=2, replies=recorded["replyCount"])
    assert found[uris[26]] == Engagement(likes=1, reposts=2, replies=recorded["replyCount"])
