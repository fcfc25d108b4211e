"""A local Jetstream (a ``websockets`` server on 127.0.0.1) and an XRPC service on
pytest-httpserver, both replaying recorded payloads.

The Jetstream server speaks the ``/subscribe`` protocol the connector relies on: it honours
``wantedCollections`` and ``cursor`` (inclusive, in ``time_us``) and sends one event per text
frame, oldest first, then stays open like a quiet live stream.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pytest_httpserver import HTTPServer
from websockets.asyncio.server import ServerConnection, serve

from allsang.connectors.base import ChannelContext
from allsang.connectors.bluesky import BlueskyConnector
from allsang.db import Database
from allsang.db.models import Channel, Workspace
from allsang.ingest.pipeline import ChannelRef
from tests.connectors.conftest import load_cassette

JETSTREAM_FILE = ("jetstream", "expected_v1.jsonl")
POST = "app.bsky.feed.post"


def make_jwt(exp: float, sub: str = "did:plc:5c2r73erhng4bszmxlfdtscf") -> str:
    """An unsigned JWT with an ``exp`` claim, as the PDS would issue (signature not checked)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"scope": "com.atproto.appPass", "sub": sub, "iat": int(time.time()), "exp": int(exp)}
    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part(claims)}.c2lnbmF0dXJl"


@dataclass
class JetstreamServer:
    """Replays ``events`` (raw lines) to every subscriber from its cursor on."""

    lines: list[str]
    url: str = ""
    extra_frames: list[str | bytes] = field(default_factory=list)
    drop_after: int | None = None  # frames sent on the first connection before it is cut
    requests: list[dict[str, list[str]]] = field(default_factory=list)

    async def handler(self, connection: ServerConnection) -> None:
        query = parse_qs(urlsplit(connection.request.path if connection.request else "").query)
        self.requests.append(query)
        wanted = set(query.get("wantedCollections", []))
        cursor = int(query["cursor"][0]) if "cursor" in query else 0
        first = len(self.requests) == 1
        for sent, frame in enumerate([*self.extra_frames, *self._events(wanted, cursor)]):
            if first and self.drop_after is not None and sent == self.drop_after:
                assert connection.transport is not None
                connection.transport.abort()  # a cut, not a close handshake
                return
            await connection.send(frame)
        await connection.wait_closed()

    def _events(self, wanted: set[str], cursor: int) -> list[str]:
        chosen = []
        for line in self.lines:
            event = json.loads(line)
            if event["time_us"] < cursor:
                continue
            collection = (event.get("commit") or {}).get("collection")
            if event["kind"] == "commit" and wanted and collection not in wanted:
                continue
            chosen.append(line)
        return chosen

    @property
    def last_time_us(self) -> int:
        """The newest ``time_us`` a posts-only subscriber is sent."""
        return max(json.loads(line)["time_us"] for line in self._events({POST}, 0))


@pytest.fixture
def jetstream_lines(payloads: Path) -> list[str]:
    path = payloads.joinpath(*JETSTREAM_FILE)
    return [line for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
async def jetstream(jetstream_lines: list[str]) -> AsyncIterator[JetstreamServer]:
    server = JetstreamServer(jetstream_lines)
    async with serve(server.handler, "127.0.0.1", 0, max_size=None) as ws_server:
        port = next(iter(ws_server.sockets)).getsockname()[1]
        server.url = f"ws://127.0.0.1:{port}/subscribe"
        yield server
        ws_server.close(close_connections=True)


@pytest.fixture
async def channel(db: Database) -> ChannelRef:
    async with db.write() as session:
        workspace = Workspace(slug="acme", name="Acme")
        session.add(workspace)
        await session.flush()
        row = Channel(workspace_id=workspace.id, network="bluesky", name="acme.bsky.social")
        session.add(row)
        await session.flush()
        return ChannelRef(id=row.id, workspace_id=workspace.id, network="bluesky")


def connector_for(
    *, jetstream_url: str = "", service: str = "", with_account: bool = False, **config: Any
) -> BlueskyConnector:
    credentials = (
        {"handle": "bskyr.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"}
        if with_account
        else {}
    )
    # Chat polling is off unless a test asks for it: most tests serve no chat service.
    settings: dict[str, Any] = {
        "batch_seconds": 0.05,
        "timeout": 2.0,
        "direct_messages": False,
        **config,
    }
    if jetstream_url:
        settings["jetstream_url"] = jetstream_url
    if service:
        settings["service"] = service
    return BlueskyConnector(
        ChannelContext(
            channel_id=1, account="bskyr.bsky.social", config=settings, credentials=credentials
        )
    )


def recorded_body(payloads: Path, cassette: str, nsid: str) -> Any:
    """The JSON body the real service answered to the first call of ``nsid`` in a cassette."""
    for interaction in load_cassette(payloads / "bskyr" / "_vcr" / cassette):
        if interaction.path == f"/xrpc/{nsid}":
            return interaction.json()
    raise LookupError(f"{cassette} has no {nsid}")


def serve_session(server: HTTPServer, payloads: Path, *, expires_in: float = 7200) -> dict:
    """``createSession`` as recorded, with real-looking JWTs (the recording has empty ones)
    and the DID document's PDS pointed at the local server."""
    body = recorded_body(payloads, "repo_auth_direct.yml", "com.atproto.server.createSession")
    body["accessJwt"] = make_jwt(time.time() + expires_in)
    body["refreshJwt"] = make_jwt(time.time() + 90 * 86400)
    for service in body["didDoc"]["service"]:
        service["serviceEndpoint"] = server.url_for("/").rstrip("/")
    server.expect_request(
        "/xrpc/com.atproto.server.createSession", method="POST"
    ).respond_with_json(body)
    return body
