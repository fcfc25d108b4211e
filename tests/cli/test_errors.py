"""Bad configuration gives one line that says what to do, and a non-zero exit."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import click
from click.testing import CliRunner
from sqlalchemy import text

from allsang.cli import cli
from allsang.db import Database
from allsang.secretbox import generate_key
from tests.cli.conftest import Invoke, SqlRunner


def _one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output
    assert lines[-1].startswith("Error: "), output
    return lines[-1]


def test_every_command_has_help() -> None:
    def walk(command: click.Command, path: list[str]) -> list[list[str]]:
        found = [path]
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                found += walk(sub, [*path, name])
        return found

    paths = walk(cli, [])
    assert len(paths) > 10
    for path in paths:
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_it_explains_a_malformed_database_url(allsang: Invoke) -> None:
    result = allsang("migrate", ALLSANG_DATABASE_URL="mysql//nonsense")
    assert result.exit_code == 2
    assert "cannot be parsed" in _one_line_error(result.output)


def test_it_explains_an_unsupported_database(allsang: Invoke) -> None:
    result = allsang("migrate", ALLSANG_DATABASE_URL="oracle://db.example.org/allsang")
    assert result.exit_code == 2
    assert "does not support" in _one_line_error(result.output)


def test_it_explains_a_missing_secret_key(allsang: Invoke) -> None:
    assert allsang("migrate").exit_code == 0
    result = allsang("token", "create", ALLSANG_SECRET_KEYS="")
    assert result.exit_code == 4
    assert "No secret key is configured" in _one_line_error(result.output)


def test_it_explains_a_malformed_secret_key(allsang: Invoke) -> None:
    result = allsang("token", "create", ALLSANG_SECRET_KEYS="not-a-key")
    assert result.exit_code == 4
    assert "not a valid Fernet key" in _one_line_error(result.output)


def test_it_refuses_a_secret_key_that_does_not_open_the_database(allsang: Invoke) -> None:
    assert (
        allsang(
            "user",
            "create",
            "--email",
            "a@example.org",
            "--name",
            "A",
            "--password",
            "long enough pw",
        ).exit_code
        == 0
    )
    result = allsang("token", "create", ALLSANG_SECRET_KEYS=generate_key())
    assert result.exit_code == 4
    assert "do not match the key this database was set up with" in _one_line_error(result.output)


def test_it_refuses_a_database_migrated_by_a_newer_version(
    allsang: Invoke, with_db: SqlRunner
) -> None:
    def stamp(revision: str) -> Callable[[Database], Awaitable[str]]:
        async def run(db: Database) -> str:
            async with db.write() as session:
                before = (
                    await session.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar_one()
                await session.execute(
                    text("UPDATE alembic_version SET version_num = :v"), {"v": revision}
                )
            return before

        return run

    current = with_db(stamp("9999_future"))
    try:
        result = allsang("migrate")
    finally:
        # On PostgreSQL the database outlives this test (tables are emptied, the stamp is not).
        with_db(stamp(current))
    assert result.exit_code == 3
    assert "migrated by a newer version of Allsang" in _one_line_error(result.output)


def test_it_explains_a_port_in_use(allsang: Invoke) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = allsang("serve", "--port", str(port))
    assert result.exit_code == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in _one_line_error(result.output)


def test_it_explains_an_unreadable_config_file(allsang: Invoke, tmp_path: object) -> None:
    result = allsang("migrate", ALLSANG_CONFIG="/nonexistent/allsang.toml")
    assert result.exit_code == 2
    assert "not a file" in _one_line_error(result.output)


def test_it_explains_an_invalid_setting(allsang: Invoke) -> None:
    result = allsang("migrate", ALLSANG_PORT="eighty")
    assert result.exit_code == 2
    assert "port" in _one_line_error(result.output)
