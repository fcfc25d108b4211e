"""The migrations build exactly the schema the models describe, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from allsang.db import Database
from allsang.db.migrate import check_schema
from allsang.db.models import Base


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    async with db.writer.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == [], "run alembic autogenerate: models and migrations differ"


async def test_a_migrated_database_is_current(db: Database) -> None:
    assert await check_schema(db) == "current"
