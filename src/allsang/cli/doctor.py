"""``allsang doctor``: check the installation and say, in words, what is wrong."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import click
from sqlalchemy import text

from allsang.cli.common import run
from allsang.db import Database
from allsang.db.migrate import check_schema, head_revision
from allsang.errors import AllsangError
from allsang.runtime import verify_key
from allsang.secretbox import secretbox_from_settings
from allsang.settings import Settings, load_settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    warn: bool = False  # worth fixing, but the installation works


async def _diagnose(settings: Settings) -> list[Check]:
    checks: list[Check] = []

    async def attempt(name: str, step: Callable[[], Awaitable[str]]) -> bool:
        try:
            detail = await step()
        except AllsangError as exc:
            checks.append(Check(name, False, str(exc)))
            return False
        except Exception as exc:  # anything else is still a finding, not a crash
            checks.append(Check(name, False, f"{type(exc).__name__}: {exc}"))
            return False
        checks.append(Check(name, True, detail))
        return True

    db = Database.unpooled(settings.sqlalchemy_url)
    try:

        async def database() -> str:
            async with db.read() as session:
                await session.execute(text("SELECT 1"))
            where = settings.database_url or f"SQLite in {settings.data_dir.resolve()}"
            return f"reachable ({db.dialect}: {where.split('@')[-1]})"

        async def schema() -> str:
            state = await check_schema(db)
            if state == "empty":
                raise AllsangError("The database is empty. Run `allsang migrate`.")
            if state == "behind":
                raise AllsangError("The schema is older than this version. Run `allsang migrate`.")
            return f"up to date (schema {head_revision()})"

        async def keys() -> str:
            secrets = secretbox_from_settings(settings)
            await verify_key(db, secrets)
            return f"{secrets.key_count} key(s) configured; they open the stored secrets"

        async def channels() -> str:
            from allsang.ingest.health import channel_health

            rows = await channel_health(db)
            broken = [f"{c.name} ({c.describe()})" for c in rows if c.state != "active"]
            if broken:
                raise AllsangError("Channels that need attention: " + "; ".join(broken))
            details = "; ".join(f"{c.name}: {c.describe()}" for c in rows)
            return f"{len(rows)} channel(s), all active" + (f" — {details}" if details else "")

        if await attempt("Database", database) and await attempt("Migrations", schema):
            await attempt("Secret keys", keys)
            await attempt("Channels", channels)
            from allsang.continuity.reconnect import findings

            at_risk = await findings(db)
            checks.append(
                Check(
                    "Reconnectors",
                    True,
                    "Channels without two people who can reconnect them (name them under "
                    "Continuity → Bus factor): " + "; ".join(at_risk)
                    if at_risk
                    else "every channel has two people who can reconnect it",
                    warn=bool(at_risk),
                )
            )
    finally:
        await db.dispose()
    return checks


@click.command()
def doctor() -> None:
    """Check the database, migrations, secret keys and channels."""
    settings = load_settings()
    checks = run(_diagnose(settings))
    for check in checks:
        mark = click.style("ok  ", fg="green") if check.ok else click.style("FAIL", fg="red")
        if check.ok and check.warn:
            mark = click.style("warn", fg="yellow")
        click.echo(f"{mark} {check.name}: {check.detail}")
    if not all(check.ok for check in checks):
        raise SystemExit(1)
    click.echo("Everything looks fine.")


COMMANDS = [doctor]
