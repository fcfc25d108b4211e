from __future__ import annotations

import pytest

from allsang.db import Database
from allsang.db.models import Channel, Workspace
from allsang.ingest.pipeline import ChannelRef, Pipeline


@pytest.fixture
async def channel(db: Database) -> ChannelRef:
    async with db.write() as session:
        workspace = Workspace(slug="acme", name="Acme")
        session.add(workspace)
        await session.flush()
        row = Channel(workspace_id=workspace.id, network="mastodon", name="@acme@example.social")
        session.add(row)
        await session.flush()
        return ChannelRef(id=row.id, workspace_id=workspace.id, network="mastodon")


@pytest.fixture
def pipeline(db: Database) -> Pipeline:
    return Pipeline(db)
