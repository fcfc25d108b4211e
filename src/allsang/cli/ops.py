"""``allsang backup`` and ``allsang restore``."""

from __future__ import annotations

from pathlib import Path

import click

from allsang.cli.common import run, settings_with
from allsang.ops.backup import backup, restore


@click.command("backup")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (default: <data_dir>/backups/allsang-<UTC time>.sqlite3|pgdump).",
)
def backup_command(output: Path | None) -> None:
    """Back up the database while Allsang runs (SQLite online backup, or pg_dump)."""
    path = backup(settings_with(), output)
    click.echo(f"Backed up to {path}")
    click.echo("The secret keys are not in the backup: keep a copy of them apart from it.")


@click.command("restore")
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--yes", is_flag=True, help="Replace a database that holds data.")
def restore_command(source: Path, yes: bool) -> None:
    """Replace the database with a backup, then migrate it to this version.

    Stop the Allsang processes first; the secret keys must be the ones in use when the backup
    was made.
    """
    run(restore(settings_with(), source, replace=yes))
    click.echo(f"Restored {source}")


COMMANDS = [backup_command, restore_command]
