"""Schema migrations (Alembic), run by ``allsang migrate`` and on start-up of ``serve``.

Refuses to touch a database that a newer Allsang has migrated: its revision is unknown here.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from allsang.db.database import Database
from allsang.errors import DatabaseError

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(db: Database) -> str | None:
    try:
        async with db.writer.connect() as connection:
            return await connection.run_sync(_current)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"Cannot open the database: {_reason(exc)}") from None


async def check_schema(db: Database) -> str:
    """Return "current", "behind" or "empty"; raise DatabaseError for a newer schema."""
    revision = await current_revision(db)
    if revision is None:
        return "empty"
    script = ScriptDirectory.from_config(alembic_config(db.url))
    known = {rev.revision for rev in script.walk_revisions()}
    if revision not in known:
        raise DatabaseError(
            f"The database was migrated by a newer version of Allsang (schema {revision}). "
            "Upgrade Allsang, or restore a backup made with this version."
        )
    return "current" if revision == script.get_current_head() else "behind"


async def upgrade(db: Database) -> None:
    await check_schema(db)

    def _upgrade(connection: Connection) -> None:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    try:
        async with db.writer.connect() as connection:
            await connection.run_sync(_upgrade)
            await connection.commit()
    except SQLAlchemyError as exc:
        raise DatabaseError(f"Migrating the database failed: {_reason(exc)}") from None


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None) or exc
    return str(original).strip().splitlines()[0]
