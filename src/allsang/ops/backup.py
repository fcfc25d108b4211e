"""Backups of the application database, and restoring them.

Contract:

* :func:`backup` writes one file and returns its path. SQLite: the online backup API, so a
  consistent copy is taken while ``allsang serve`` keeps writing. PostgreSQL: ``pg_dump
  --format=custom``. The file holds the database only: the secret keys are never in it (keep
  them apart, see docs/operations.md), and files under the data directory (uploads, cached
  images) are backed up with the directory.
* :func:`restore` replaces the configured database with a backup's content, then migrates it
  to this version's schema. It refuses a backup of the other engine, a file that is no backup,
  a backup made by a newer version, and (unless ``replace=True``) a database that holds data.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from allsang.db import Database
from allsang.db.migrate import check_schema, upgrade
from allsang.errors import AllsangError, ConfigurationError, DatabaseError
from allsang.settings import Settings

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


class BackupError(AllsangError):
    """A backup cannot be made or restored; the message says why and what to do."""

    exit_code = 5


def default_path(settings: Settings) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = "sqlite3" if settings.is_sqlite else "pgdump"
    return settings.data_dir / "backups" / f"allsang-{stamp}.{suffix}"


def backup(settings: Settings, destination: Path | None = None) -> Path:
    path = destination or default_path(settings)
    if path.exists():
        raise BackupError(f"{path} exists already; choose another file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    if settings.is_sqlite:
        source = _sqlite_path(settings)
        if not source.exists():
            raise DatabaseError(f"There is no database at {source} to back up.")
        with _sqlite(source) as live, _sqlite(path) as copy:
            live.backup(copy)
    else:
        _run_tool(
            "pg_dump",
            ["--format=custom", "--no-owner", f"--file={path}", _libpq(settings)],
        )
    return path


async def restore(settings: Settings, source: Path, *, replace: bool = False) -> None:
    kind = _kind_of(source)
    wanted = "sqlite" if settings.is_sqlite else "postgresql"
    if kind != wanted:
        raise BackupError(
            f"{source} is a {kind} backup, but the configured database is {wanted}. "
            "Restore it into a database of the same kind (see docs/operations.md to move "
            "between engines)."
        )
    db = Database.unpooled(settings.sqlalchemy_url)
    try:
        if not replace and await _holds_data(db):
            raise BackupError(
                "The configured database holds data; restoring replaces all of it. "
                "Run again with --yes to confirm."
            )
    finally:
        await db.dispose()

    if settings.is_sqlite:
        target = _sqlite_path(settings)
        target.parent.mkdir(parents=True, exist_ok=True)
        with _sqlite(source) as backup_db, _sqlite(target) as live:
            backup_db.backup(live)
    else:
        await asyncio.to_thread(
            _run_tool,
            "pg_restore",
            [
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                f"--dbname={_libpq(settings)}",
                str(source),
            ],
        )

    db = Database.unpooled(settings.sqlalchemy_url)
    try:
        await check_schema(db)  # raises for a backup made by a newer version
        await upgrade(db)
    finally:
        await db.dispose()


def _kind_of(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"Cannot read {path}: {exc.strerror}.") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is not an Allsang backup (neither SQLite nor a pg_dump archive).")


async def _holds_data(db: Database) -> bool:
    if await check_schema(db) == "empty":
        return False
    async with db.read() as session:
        return (await session.scalar(text("SELECT count(*) FROM workspace"))) != 0


def _sqlite_path(settings: Settings) -> Path:
    database = make_url(settings.sqlalchemy_url).database
    if not database:
        raise ConfigurationError("An in-memory SQLite database cannot be backed up.")
    return Path(database)


def _sqlite(path: Path) -> closing[sqlite3.Connection]:
    # sqlite3's own context manager only ends the transaction; this one closes.
    return closing(sqlite3.connect(path))


def _libpq(settings: Settings) -> str:
    url = make_url(settings.sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _run_tool(tool: str, arguments: list[str]) -> None:
    executable = shutil.which(tool)
    if executable is None:
        raise BackupError(
            f"{tool} is not installed; install the PostgreSQL client tools of your server's "
            "major version (Debian: apt-get install postgresql-client)."
        )
    result = subprocess.run([executable, *arguments], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()
        raise BackupError(f"{tool} failed: {reason[-1] if reason else 'no message'}")
