"""The migrations build exactly the schema the models describe, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from allsang.db import Database
from allsang.db.migrate import check_schema
from allsang.db.models import Base


def _not_fts(name: str | None, type_: str, _parents: object) -> bool:
    # The SQLite FTS5 table of the inbox search (migration 0006) and its shadow tables
    # (inbox_search_fts_data, _idx, _content, _docsize, _config): virtual tables that the
    # models cannot describe, created and dropped by that migration alone.
    return not (type_ == "table" and (name or "").startswith("inbox_search_fts"))


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": _not_fts}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    async with db.writer.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == [], "run alembic autogenerate: models and migrations differ"


async def test_a_migrated_database_is_current(db: Database) -> None:
    assert await check_schema(db) == "current"
