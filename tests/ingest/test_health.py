"""Channel health: lag, token expiry and errors, as the coordinator records them and
``allsang doctor`` shows them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from allsang.cli import cli
from allsang.db import Database
from allsang.db.models import Channel, Workspace
from allsang.ingest import health
from allsang.ingest.health import ChannelHealth
from allsang.settings import Settings

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def channel(**fields: object) -> ChannelHealth:
    values: dict[str, object] = {
        "id": 1,
        "workspace_id": 1,
        "name": "@acme",
        "network": "mastodon",
        "state": "active",
        "last_success_at": None,
        "last_error": None,
        "last_error_at": None,
        "last_item_at": None,
        "token_expires_at": None,
    }
    return ChannelHealth(**{**values, **fields})  # type: ignore[arg-type]


def test_it_describes_lag_token_expiry_and_the_error_of_a_channel_in_trouble() -> None:
    assert channel().describe(NOW) == "active, no items yet"
    fine = channel(
        last_item_at=NOW - timedelta(minutes=3), token_expires_at=NOW + timedelta(days=2)
    )
    assert fine.lag(NOW) == timedelta(minutes=3)
    assert fine.describe(NOW) == "active, lag 3 min, token expires in 2 d"
    broken = channel(
        state="reconnect_needed",
        last_item_at=NOW - timedelta(hours=5),
        token_expires_at=NOW - timedelta(hours=1),
        last_error="401 Unauthorized",
    )
    assert broken.describe(NOW) == (
        "reconnect_needed, lag 5 h, token expired 1 h ago, last error: 401 Unauthorized"
    )


async def test_a_success_makes_a_failing_channel_active_again(db: Database) -> None:
    async with db.write() as session:
        workspace = Workspace(slug="acme", name="Acme")
        session.add(workspace)
        await session.flush()
        row = Channel(workspace_id=workspace.id, network="rss", name="News", state="active")
        session.add(row)
        await session.flush()
    await health.record_error(db, row.id, "404 Not Found", failing=True)
    [failing] = await health.channel_health(db)
    assert (failing.state, failing.last_error) == ("failing", "404 Not Found")
    expires = NOW + timedelta(days=30)
    await health.record_success(db, row.id, token_expires_at=expires)
    [recovered] = await health.channel_health(db)
    assert recovered.state == "active"
    assert recovered.last_success_at is not None
    assert recovered.token_expires_at == expires
    assert recovered.last_error == "404 Not Found", "the last error stays visible"


@pytest.fixture
def channels(settings: Settings) -> None:
    async def add() -> None:
        db = Database.unpooled(settings.sqlalchemy_url)
        now = datetime.now(UTC)
        async with db.write() as session:
            workspace = Workspace(slug="acme", name="Acme")
            session.add(workspace)
            await session.flush()
            session.add(
                Channel(
                    workspace_id=workspace.id,
                    network="mastodon",
                    name="@acme",
                    last_item_at=now - timedelta(minutes=10, seconds=5),
                    token_expires_at=now + timedelta(days=3, hours=1),
                )
            )
        await db.dispose()

    asyncio.run(add())


def test_doctor_shows_each_channels_lag_and_token_expiry(
    settings: Settings, channels: None
) -> None:
    env = {
        "ALLSANG_DATA_DIR": str(settings.data_dir),
        "ALLSANG_DATABASE_URL": settings.database_url,
        "ALLSANG_SECRET_KEYS": settings.secret_keys,
        "ALLSANG_CONFIG": "",
    }
    result = CliRunner().invoke(cli, ["doctor"], env=env)
    assert result.exit_code == 0, result.output
    assert "@acme: active, lag 10 min, token expires in 3 d" in result.output
