"""Helpers for connector tests: real recorded payloads served by a local HTTP server.

* ``payloads`` — the folder ``shared/data/payloads`` (from ``ALLSANG_SHARED_DIR``, default
  ``../shared`` beside the repository); tests that need it skip with a clear message where it
  is absent.
* ``httpserver`` — pytest-httpserver, here bound to 127.0.0.1 and threaded, so a test can hold
  a stream open (or stall a response) while other requests are answered.
* :func:`load_cassette` / :func:`serve_cassette` — replay a vcrpy cassette: each recorded
  response is served at its request's method and path (and query, if asked), in recorded
  order when a path repeats. The client under test points its base URL at the server.
* :func:`sse` — build a ``text/event-stream`` body; :func:`broken_stream` — a response that
  sends some bytes and then drops the connection.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

REPOSITORY = Path(__file__).resolve().parents[2]

# Headers that describe the recorded transfer, not the payload; werkzeug sets its own.
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


def shared_dir() -> Path:
    return Path(os.environ.get("ALLSANG_SHARED_DIR") or REPOSITORY.parent / "shared")


@pytest.fixture(scope="session")
def payloads() -> Path:
    folder = shared_dir() / "data" / "payloads"
    if not folder.is_dir():
        pytest.skip(f"recorded payloads not found at {folder} (set ALLSANG_SHARED_DIR)")
    return folder


@pytest.fixture(scope="session")
def make_httpserver() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@dataclass(frozen=True, slots=True)
class Interaction:
    """One recorded request and the response the real server gave."""

    method: str
    uri: str
    request_headers: dict[str, list[str]]
    request_body: Any
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.uri).path

    @property
    def query(self) -> str:
        return urlsplit(self.uri).query

    @property
    def origin(self) -> str:
        parts = urlsplit(self.uri)
        return f"{parts.scheme}://{parts.netloc}"

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def load_cassette(path: Path) -> list[Interaction]:
    """The interactions of a vcrpy cassette (``interactions:``) or an R vcr one
    (``http_interactions:``), bodies as bytes."""
    data = yaml.safe_load(path.read_bytes())
    found: list[Interaction] = []
    for item in data.get("interactions") or data.get("http_interactions") or []:
        request, response = item["request"], item["response"]
        status = response["status"]
        code = status["code"] if isinstance(status, dict) else int(status)
        body = (response.get("body") or {}).get("string") or b""
        raw_headers = response.get("headers") or {}
        headers = [
            (name, value if isinstance(value, str) else str(value))
            for name, values in raw_headers.items()
            for value in (values if isinstance(values, list) else [values])
        ]
        found.append(
            Interaction(
                method=str(request["method"]).upper(),
                uri=str(request["uri"]),
                request_headers=request.get("headers") or {},
                request_body=request.get("body"),
                status=int(code),
                headers=headers,
                body=body if isinstance(body, bytes) else str(body).encode(),
            )
        )
    return found


def response_for(
    interaction: Interaction, server: HTTPServer, *, rewrite_origins: bool = True
) -> Response:
    """The recorded response; with ``rewrite_origins`` the recorded hosts in ``Link`` and
    ``Location`` headers point at the local server, so pagination stays local."""
    base = server.url_for("/").rstrip("/")
    headers = []
    for name, value in interaction.headers:
        if name.lower() in _HOP_HEADERS:
            continue
        if rewrite_origins and name.lower() in ("link", "location"):
            value = value.replace(interaction.origin, base)
        headers.append((name, value))
    return Response(interaction.body, status=interaction.status, headers=headers)


def serve_cassette(
    server: HTTPServer,
    path: Path,
    *,
    only: Callable[[Interaction], bool] | None = None,
    match_query: bool = False,
    repeat_last: bool = True,
) -> list[Interaction]:
    """Serve every (selected) interaction of the cassette on ``server``.

    A path recorded several times is answered in recorded order; the last answer stays in
    place for further requests when ``repeat_last`` (polling clients ask again).
    Returns the interactions served.
    """
    chosen = [i for i in load_cassette(path) if only is None or only(i)]
    by_route: dict[tuple[str, str, str | None], list[Interaction]] = {}
    for interaction in chosen:
        key = (interaction.method, interaction.path, interaction.query if match_query else None)
        by_route.setdefault(key, []).append(interaction)
    for (method, route, query), recorded in by_route.items():
        for position, interaction in enumerate(recorded):
            last = position == len(recorded) - 1
            kwargs: dict[str, Any] = {"method": method}
            if query is not None:
                kwargs["query_string"] = query
            response = response_for(interaction, server)
            if last and repeat_last:
                server.expect_request(route, **kwargs).respond_with_response(response)
            else:
                server.expect_oneshot_request(route, **kwargs).respond_with_response(response)
    return chosen


def sse(*events: tuple[str, str], comment: str | None = ")") -> bytes:
    """A ``text/event-stream`` body: an optional leading comment, then ``(event, data)``
    pairs, each terminated by a blank line."""
    parts = [f":{comment}\n\n"] if comment is not None else []
    parts += [f"event: {event}\ndata: {data}\n\n" for event, data in events]
    return "".join(parts).encode()


def sse_events(body: str | bytes) -> list[tuple[str, str]]:
    """The ``(event, data)`` pairs of a recorded ``text/event-stream`` body."""
    text = body.decode() if isinstance(body, bytes) else body
    found: list[tuple[str, str]] = []
    event, data = "", []
    for line in text.splitlines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and (event or data):
            found.append((event, "\n".join(data)))
            event, data = "", []
    return found


class _Dropped(Exception):
    """Raised inside a response body to make the server cut the connection."""


def broken_stream(
    chunks: Iterable[bytes], *, content_type: str = "text/event-stream"
) -> Callable[[Request], Response]:
    """A handler that sends ``chunks`` (chunked transfer) and then drops the connection
    without finishing the body, as a proxy restart or a network cut does."""

    def body() -> Iterator[bytes]:
        yield from chunks
        raise _Dropped("connection dropped by the test")

    def handler(request: Request) -> Response:
        return Response(body(), status=200, content_type=content_type)

    return handler
