"""A Mastodon instance on pytest-httpserver that speaks the parts of the real API publishing
uses: ``POST /api/v1/statuses`` (with ``Idempotency-Key``: a repeated key answers the first
status, as Mastodon does for an hour), ``GET /api/v1/accounts/verify_credentials`` and
``GET /api/v1/accounts/:id/statuses`` (newest first, HTML content).

Hooks let tests stop the world at a chosen point: ``on_receive`` runs when a post arrives,
before the instance accepts it (returning False drops it); ``on_accepted`` after it is
stored, before the answer is sent.
``refuse`` holds HTTP statuses to answer the next posts with instead of accepting them,
``refuse_reads`` the same for the next account-statuses reads.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ACCOUNT = {
    "id": "1",
    "username": "acme",
    "acct": "acme",
    "display_name": "Acme",
    "locked": False,
    "bot": False,
    "created_at": "2020-01-01T00:00:00.000Z",
    "note": "",
    "url": "https://fake.example/@acme",
    "avatar": "",
    "avatar_static": "",
    "header": "",
    "header_static": "",
    "followers_count": 0,
    "following_count": 0,
    "statuses_count": 0,
    "emojis": [],
    "fields": [],
}


class FakeMastodon:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.statuses: list[dict[str, Any]] = []
        self.keys: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.refuse: list[int] = []
        self.refuse_reads: list[int] = []
        self.on_receive: Callable[[], bool] | None = None
        self.on_accepted: Callable[[], None] | None = None
        self._lock = threading.Lock()
        server.expect_request("/api/v1/statuses", method="POST").respond_with_handler(self._post)
        server.expect_request(
            "/api/v1/accounts/verify_credentials", method="GET"
        ).respond_with_json(ACCOUNT)
        server.expect_request("/api/v1/accounts/1/statuses", method="GET").respond_with_handler(
            self._list
        )

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def texts(self) -> list[str]:
        return [s["_text"] for s in self.statuses]

    def _status(self, text: str) -> dict[str, Any]:
        number = len(self.statuses) + 1000
        return {
            "id": str(number),
            "uri": f"https://fake.example/users/acme/statuses/{number}",
            "url": f"https://fake.example/@acme/{number}",
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "account": ACCOUNT,
            "content": "<p>" + html.escape(text).replace("\n", "<br />") + "</p>",
            "visibility": "public",
            "sensitive": False,
            "spoiler_text": "",
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "reblogs_count": 0,
            "favourites_count": 0,
            "replies_count": 0,
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "reblog": None,
            "language": None,
            "_text": text,
        }

    def _json(self, body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _post(self, request: Request) -> Response:
        form = request.get_json(silent=True) or request.form.to_dict()
        key = request.headers.get("Idempotency-Key")
        self.requests.append({"form": dict(form), "key": key})
        if self.on_receive is not None and self.on_receive() is False:
            return self._json({"error": "the request was lost"}, 503)
        with self._lock:
            if self.refuse:
                code = self.refuse.pop(0)
                return self._json({"error": f"refused with {code}"}, code)
            if key and key in self.keys:
                status = next(s for s in self.statuses if s["id"] == self.keys[key])
            else:
                status = self._status(str(form.get("status", "")))
                self.statuses.append(status)
                if key:
                    self.keys[key] = status["id"]
        if self.on_accepted is not None:
            self.on_accepted()
        return self._json({k: v for k, v in status.items() if not k.startswith("_")})

    def _list(self, request: Request) -> Response:
        if self.refuse_reads:
            code = self.refuse_reads.pop(0)
            return self._json({"error": f"refused with {code}"}, code)
        newest = [
            {k: v for k, v in s.items() if not k.startswith("_")} for s in reversed(self.statuses)
        ]
        return self._json(newest[: int(request.args.get("limit", 20))])
