"""The runtime: settings, database and secret box opened together, checked before use.

Every process (web, worker, CLI command) starts with :func:`open_runtime`, so a wrong URL,
a missing key or a schema from a newer version is reported in one line before anything runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from allsang.db import Database
from allsang.db.migrate import check_schema, upgrade
from allsang.db.models import KeyCheck
from allsang.errors import DatabaseError, SecretKeyError
from allsang.secretbox import KEY_CHECK_PLAINTEXT, SecretBox, secretbox_from_settings
from allsang.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    secrets: SecretBox


async def verify_key(db: Database, secrets: SecretBox) -> None:
    """Store a key-check value on first use; afterwards make sure the keys still open it."""
    async with db.write() as session:
        row = await session.get(KeyCheck, 1)
        if row is None:
            try:
                async with session.begin_nested():
                    session.add(KeyCheck(id=1, token=secrets.seal(KEY_CHECK_PLAINTEXT)))
                return
            except IntegrityError:
                # Several processes started at once on an empty database: one of them stored
                # its check first; ours must open that one.
                row = await session.get_one(KeyCheck, 1, populate_existing=True)
    try:
        secrets.open(row.token)
    except SecretKeyError:
        raise SecretKeyError(
            "The configured secret keys do not match the key this database was set up with. "
            "Restore the old key (ALLSANG_SECRET_KEYS or the key file); to change keys, put the "
            "new key first and the old one after it, then run `allsang keys rotate`."
        ) from None


@asynccontextmanager
async def open_runtime(settings: Settings, *, migrate: bool = False) -> AsyncIterator[Runtime]:
    """Open the database and keys; with ``migrate`` bring the schema up to date first."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    secrets = secretbox_from_settings(settings)
    db = Database(settings.sqlalchemy_url)
    try:
        if migrate:
            await upgrade(db)
        state = await check_schema(db)
        if state != "current":
            raise DatabaseError(
                "The database schema is not up to date. Run `allsang migrate` first."
            )
        await verify_key(db, secrets)
        yield Runtime(settings=settings, db=db, secrets=secrets)
    finally:
        await db.dispose()
