"""The ``allsang`` command line.

Every command loads settings the same way and reports an :class:`AllsangError` as one line on
stderr with a non-zero exit code, never a traceback: people read these messages at 3 a.m.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from allsang import __version__
from allsang.errors import AllsangError


class AllsangGroup(click.Group):
    """A click group that turns AllsangError into a one-line message and an exit code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except AllsangError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            ctx.exit(130)


@click.group(cls=AllsangGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="allsang")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file (same as ALLSANG_CONFIG).",
)
def cli(config: Path | None) -> None:
    """Allsang: listen, answer as a team, publish, and show the conversation on a screen."""
    if config is not None:
        os.environ["ALLSANG_CONFIG"] = str(config)


def _register() -> None:
    from allsang.analytics.cli import COMMANDS as analytics_commands
    from allsang.cli import admin, bench, doctor, ingest, ops, serve
    from allsang.inbox.cli import COMMANDS as inbox_commands
    from allsang.listening.cli import analyze
    from allsang.privacy.cli import COMMANDS as privacy_commands

    for module in (serve, ingest, admin, doctor, bench, ops):
        for command in module.COMMANDS:
            cli.add_command(command)
    cli.add_command(analyze)
    for command in [*inbox_commands, *privacy_commands]:
        cli.add_command(command)
    for command in analytics_commands:
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="allsang")


if __name__ == "__main__":
    sys.exit(main())
