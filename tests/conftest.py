"""Shared fixtures. The engine under test comes from ``ALLSANG_TEST_DATABASE``:

* unset or ``sqlite`` — a fresh SQLite file per test (copied from one migrated template);
* a PostgreSQL URL — one database migrated once per run, emptied before each test.

``scripts/test`` runs the whole suite once per engine.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from allsang.db import Database
from allsang.db.migrate import upgrade
from allsang.db.models import Base
from allsang.db.urls import async_url
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox, generate_key
from allsang.settings import Settings

ENGINE = os.environ.get("ALLSANG_TEST_DATABASE", "sqlite")
TEST_KEY = generate_key()


def pytest_report_header() -> str:
    return f"allsang database engine: {'sqlite' if ENGINE == 'sqlite' else 'postgresql'}"


def _postgres_admin_url() -> str:
    return async_url(ENGINE)


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per run; return the async URL (PostgreSQL) or template file (SQLite)."""
    if ENGINE == "sqlite":
        path = tmp_path_factory.mktemp("template") / "allsang.db"
        db = Database(f"sqlite+aiosqlite:///{path}")
        asyncio.run(_migrate(db))
        yield str(path)
        return
    admin = make_url(_postgres_admin_url())
    name = f"allsang_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_run_admin(admin, f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    asyncio.run(_migrate(Database(url)))
    yield url
    asyncio.run(_run_admin(admin, f'DROP DATABASE "{name}" WITH (FORCE)'))


async def _migrate(db: Database) -> None:
    await upgrade(db)
    await db.dispose()


async def _run_admin(admin: URL, statement: str) -> None:
    import psycopg

    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute(statement)


_TABLES = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    """The async URL of a migrated, empty database of its own for this test."""
    if ENGINE == "sqlite":
        path = tmp_path / "data" / "allsang.db"
        path.parent.mkdir(exist_ok=True)
        shutil.copy(database_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    asyncio.run(_truncate(database_template))
    yield database_template


async def _truncate(url: str) -> None:
    db = Database.unpooled(url)
    async with db.write() as session:
        # A connection an earlier test left behind (a background task cut off with its event
        # loop, idle in a transaction) would make TRUNCATE wait for ever: end it first.
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        await session.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    await db.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_keys=TEST_KEY,
        worker_poll_seconds=0.05,
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.sqlalchemy_url)
    yield database
    await database.dispose()


@pytest.fixture
async def runtime(settings: Settings, db: Database) -> Runtime:
    return Runtime(settings=settings, db=db, secrets=SecretBox([TEST_KEY]))
