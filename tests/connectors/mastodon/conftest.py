from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from allsang.connectors.base import ChannelContext
from allsang.connectors.mastodon import MastodonConnector
from tests.connectors.conftest import load_cassette

FIXTURES = Path(__file__).resolve().parents[3] / "src/allsang/connectors/mastodon/fixtures"
OWN_ACCOUNT = "mastodonpy_test"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def recorded(payloads: Path, cassette: str, method: str, path: str) -> Any:
    """The JSON body the real server answered to the first ``method path`` of a cassette."""
    for interaction in load_cassette(payloads / "mastodon-py" / cassette):
        if interaction.method == method and interaction.path == path:
            return interaction.json()
    raise LookupError(f"{cassette} has no {method} {path}")


def id_key(value: str) -> tuple[int, str]:
    return (len(value), value)


class FakeMastodon:
    """The slice of the Mastodon REST API the connector uses, over recorded entities:
    ``min_id``/``since_id``/``limit`` paging exactly as Mastodon does it (the page right
    after ``min_id``, newest first)."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.notifications: list[dict[str, Any]] = []
        self.tags: dict[str, list[dict[str, Any]]] = {}
        self.searches: dict[str, list[dict[str, Any]]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.posted: list[dict[str, Any]] = []
        self.post_response: dict[str, Any] | None = None
        self.requests: list[tuple[str, dict[str, str]]] = []
        server.expect_request("/api/v1/notifications").respond_with_handler(
            self._paged(lambda r: self.notifications)
        )
        server.expect_request("/api/v2/search").respond_with_handler(self._search)
        server.expect_request("/api/v1/statuses", method="POST").respond_with_handler(self._post)

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    @property
    def host(self) -> str:
        return f"{self.server.host}:{self.server.port}"

    def tag(self, name: str, statuses: list[dict[str, Any]]) -> None:
        self.tags[name] = statuses
        self.server.expect_request(f"/api/v1/timelines/tag/{name}").respond_with_handler(
            self._paged(lambda r: self.tags[name])
        )

    def status(self, status: dict[str, Any]) -> None:
        self.statuses[status["id"]] = status
        self.server.expect_request(f"/api/v1/statuses/{status['id']}").respond_with_json(status)

    def _window(self, request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.requests.append((request.path, dict(request.args)))
        limit = int(request.args.get("limit", 20))
        ordered = sorted(items, key=lambda i: id_key(str(i["id"])))
        if "min_id" in request.args:
            floor = id_key(request.args["min_id"])
            return list(reversed([i for i in ordered if id_key(i["id"]) > floor][:limit]))
        if "since_id" in request.args:
            floor = id_key(request.args["since_id"])
            ordered = [i for i in ordered if id_key(i["id"]) > floor]
        return list(reversed(ordered[-limit:]))

    def _paged(self, items: Callable[[Request], list[dict[str, Any]]]) -> Any:
        def handler(request: Request) -> Response:
            body = json.dumps(self._window(request, items(request)))
            return Response(body, content_type="application/json; charset=utf-8")

        return handler

    def _search(self, request: Request) -> Response:
        found = self._window(request, self.searches.get(request.args.get("q", ""), []))
        body = {"accounts": [], "statuses": found, "hashtags": []}
        return Response(json.dumps(body), content_type="application/json")

    def _post(self, request: Request) -> Response:
        form = {k: v for k, v in request.form.items()}
        form["Idempotency-Key"] = request.headers.get("Idempotency-Key", "")
        self.posted.append(form)
        assert self.post_response is not None, "set post_response first"
        return Response(json.dumps(self.post_response), content_type="application/json")


@pytest.fixture
def fake(httpserver: HTTPServer) -> FakeMastodon:
    return FakeMastodon(httpserver)


def connector_for(server: HTTPServer, account: str = "", **config: Any) -> MastodonConnector:
    host = f"{server.host}:{server.port}"
    return MastodonConnector(
        ChannelContext(
            channel_id=1,
            account=account or f"@{OWN_ACCOUNT}@{host}",
            config={"instance": server.url_for("/").rstrip("/"), "timeout": 2.0, **config},
            credentials={"access_token": "__MASTODON_PY_TEST_ACCESS_TOKEN"},
        )
    )
