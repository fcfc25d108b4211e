"""An X API v2 on pytest-httpserver: the project's own payloads and tweepy's recordings."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from allsang.connectors.base import ChannelContext
from allsang.connectors.x import XConnector
from allsang.db import Database
from allsang.db.models import Channel, Workspace
from allsang.ingest.pipeline import ChannelRef
from tests.connectors.conftest import Interaction, load_cassette

OWN_ID = "900001"


def recorded(payloads: Path, cassette: str, method: str, path: str) -> Interaction:
    """The recorded interaction, its body gunzipped (``test_client_*`` cassettes keep it
    compressed; the shared server drops ``Content-Encoding``)."""
    for interaction in load_cassette(payloads / "tweepy" / cassette):
        if interaction.method == method and interaction.path == path:
            body = interaction.body
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            return Interaction(
                interaction.method,
                interaction.uri,
                interaction.request_headers,
                interaction.request_body,
                interaction.status,
                interaction.headers,
                body,
            )
    raise LookupError(f"{cassette} has no {method} {path}")


@pytest.fixture
async def channel(db: Database) -> ChannelRef:
    async with db.write() as session:
        workspace = Workspace(slug="acme", name="Acme")
        session.add(workspace)
        await session.flush()
        row = Channel(workspace_id=workspace.id, network="x", name="@acme_no")
        session.add(row)
        await session.flush()
        return ChannelRef(id=row.id, workspace_id=workspace.id, network="x")


def connector_for(server: HTTPServer, **config: Any) -> XConnector:
    settings: dict[str, Any] = {
        "base_url": server.url_for("/").rstrip("/"),
        "user_id": OWN_ID,
        "timeout": 0.5,
        **config,
    }
    return XConnector(
        ChannelContext(
            channel_id=1,
            account="@acme_no",
            config=settings,
            credentials={"bearer_token": "test-user-access-token"},
        )
    )
