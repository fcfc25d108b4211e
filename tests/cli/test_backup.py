"""``allsang backup`` and ``allsang restore`` on the engine under test."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from allsang.db import Database
from allsang.db.migrate import check_schema
from allsang.db.models import Person
from allsang.settings import Settings
from tests.cli.conftest import Invoke, SqlRunner


def _create(allsang: Invoke, email: str) -> None:
    result = allsang(
        "user", "create", "--email", email, "--name", email, "--password", "long enough pw"
    )
    assert result.exit_code == 0, result.output


def _emails(with_db: SqlRunner) -> set[str]:
    async def emails(db: Database) -> set[str]:
        async with db.read() as session:
            return set(await session.scalars(select(Person.email)))

    return with_db(emails)


def test_a_backup_restores_the_database_as_it_was(
    allsang: Invoke, with_db: SqlRunner, tmp_path: Path
) -> None:
    _create(allsang, "before@example.org")
    target = tmp_path / "nightly" / "allsang.backup"
    result = allsang("backup", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert f"Backed up to {target}" in result.output
    _create(allsang, "after@example.org")

    refused = allsang("restore", str(target))
    assert refused.exit_code == 5
    assert "--yes" in refused.output
    assert _emails(with_db) == {"before@example.org", "after@example.org"}

    restored = allsang("restore", str(target), "--yes")
    assert restored.exit_code == 0, restored.output
    assert _emails(with_db) == {"before@example.org"}
    assert with_db(check_schema) == "current"


def test_the_default_backup_goes_to_the_data_directory(allsang: Invoke, settings: Settings) -> None:
    _create(allsang, "someone@example.org")
    result = allsang("backup")
    assert result.exit_code == 0, result.output
    written = list((settings.data_dir / "backups").iterdir())
    assert len(written) == 1
    assert written[0].suffix == (".sqlite3" if settings.is_sqlite else ".pgdump")
    assert allsang("backup", "--output", str(written[0])).exit_code == 5


def test_it_refuses_a_file_that_is_not_a_backup(allsang: Invoke, tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database")
    result = allsang("restore", str(junk), "--yes")
    assert result.exit_code == 5
    assert "is not an Allsang backup" in result.output


def test_it_refuses_a_backup_of_the_other_engine(
    allsang: Invoke, settings: Settings, tmp_path: Path
) -> None:
    other = tmp_path / "other.backup"
    other.write_bytes(b"PGDMP" if settings.is_sqlite else b"SQLite format 3\x00")
    result = allsang("restore", str(other), "--yes")
    assert result.exit_code == 5
    assert "Restore it into a database of the same kind" in result.output
