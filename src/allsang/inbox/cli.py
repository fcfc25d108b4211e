"""``allsang inbox …``: maintenance of the team inbox (``reindex`` rebuilds the search index)."""

from __future__ import annotations

import time

import click

from allsang.cli.common import run, settings_with
from allsang.db import Database
from allsang.db.migrate import check_schema
from allsang.errors import DatabaseError
from allsang.inbox import search


@click.group()
def inbox() -> None:
    """Maintain the team inbox."""


@inbox.command("reindex")
def reindex() -> None:
    """Rebuild the inbox search index from every stored message and conversation."""

    async def _reindex() -> int:
        db = Database(settings_with().sqlalchemy_url)
        try:
            if await check_schema(db) != "current":
                raise DatabaseError("The database schema is not up to date. Run `allsang migrate`.")
            return await search.reindex(db)
        finally:
            await db.dispose()

    start = time.perf_counter()
    count = run(_reindex())
    click.echo(
        f"Indexed {count} messages and conversations in {time.perf_counter() - start:.1f} s."
    )


COMMANDS = [inbox]
