from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from click.testing import CliRunner, Result

from allsang.cli import cli
from allsang.db import Database
from allsang.settings import Settings

T = TypeVar("T")

Invoke = Callable[..., Result]


@pytest.fixture
def allsang(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run ``allsang`` in-process against this test's database and keys."""
    for name in ("ALLSANG_CONFIG", "ALLSANG_SECRET_KEY_FILE", "ALLSANG_NEW_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "ALLSANG_DATA_DIR": str(settings.data_dir),
        "ALLSANG_DATABASE_URL": settings.database_url,
        "ALLSANG_SECRET_KEYS": settings.secret_keys,
    }

    def invoke(*args: str, input: str | None = None, **extra_env: str) -> Result:
        return CliRunner().invoke(cli, list(args), env={**env, **extra_env}, input=input)

    return invoke


SqlRunner = Callable[[Callable[[Database], Awaitable[T]]], T]


@pytest.fixture
def with_db(settings: Settings) -> SqlRunner:
    """Run ``fn(db)`` on this test's database from a synchronous test.

    CLI commands start their own event loop, so the tests that invoke them are synchronous
    and reach the database through this helper.
    """

    def runner(fn: Callable[[Database], Awaitable[T]]) -> T:
        async def _run() -> T:
            db = Database.unpooled(settings.sqlalchemy_url)
            try:
                return await fn(db)
            finally:
                await db.dispose()

        return asyncio.run(_run())

    return runner  # type: ignore[return-value]
