"""``allsang analytics …``: ``rebuild`` counts the aggregates again from every message."""

from __future__ import annotations

import time

import click
from sqlalchemy import select

from allsang.analytics import aggregate
from allsang.cli.common import run, settings_with
from allsang.db import Database
from allsang.db.migrate import check_schema
from allsang.db.models import Workspace
from allsang.errors import DatabaseError


@click.group()
def analytics() -> None:
    """Maintain the analytics aggregates."""


@analytics.command("rebuild")
@click.option("--workspace", "slug", help="Only this workspace (its slug); default: all.")
def rebuild(slug: str | None) -> None:
    """Throw the aggregates away and count them again from every stored message.

    Safe while the app runs: new messages are counted by the next refresh.
    """

    async def _rebuild() -> int:
        db = Database(settings_with().sqlalchemy_url)
        try:
            if await check_schema(db) != "current":
                raise DatabaseError("The database schema is not up to date. Run `allsang migrate`.")
            async with db.read() as session:
                statement = select(Workspace.id).order_by(Workspace.id)
                if slug:
                    statement = statement.where(Workspace.slug == slug)
                ids = list(await session.scalars(statement))
            if slug and not ids:
                raise click.ClickException(f"There is no workspace {slug!r}.")
            for workspace_id in ids:
                await aggregate.rebuild(db, workspace_id)
            return len(ids)
        finally:
            await db.dispose()

    start = time.perf_counter()
    count = run(_rebuild())
    click.echo(
        f"Rebuilt the analytics of {count} workspace(s) in {time.perf_counter() - start:.1f} s."
    )


COMMANDS = [analytics]
