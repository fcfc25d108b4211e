"""``allsang privacy erase|export|retention``: requests about a person, and retention runs."""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.authz import Actor
from allsang.cli.admin import CommandError, resolve_workspace
from allsang.cli.common import run, settings_with
from allsang.db.models import Contact
from allsang.privacy.erase import erase_contact, export_contact
from allsang.privacy.retention import apply_retention
from allsang.runtime import open_runtime

CLI_ACTOR = Actor(kind="system", label="cli")


@click.group()
def privacy() -> None:
    """A person's data on request (export, erase) and retention."""


def _contact_options(command: click.Command) -> click.Command:
    for option in reversed(
        [
            click.option("--workspace", "workspace_slug", help="Workspace slug."),
            click.option("--network", required=True, help="mastodon, bluesky, x, email, rss …"),
            click.option("--handle", required=True, help="The contact's handle on the network."),
        ]
    ):
        command = option(command)
    return command


async def _find(
    session: AsyncSession, workspace_slug: str | None, network: str, handle: str
) -> Contact:
    workspace = await resolve_workspace(session, workspace_slug)
    contact = await session.scalar(
        select(Contact).where(
            Contact.workspace_id == workspace.id,
            Contact.network == network,
            Contact.handle == handle,
        )
    )
    if contact is None:
        raise CommandError(f"There is no {network} contact {handle!r} in {workspace.slug}.")
    return contact


@privacy.command("export")
@_contact_options
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="JSON file.")
def export_command(
    workspace_slug: str | None, network: str, handle: str, output: Path | None
) -> None:
    """Write everything stored about one contact as JSON (stdout without --output)."""

    async def go() -> dict[str, object]:
        async with open_runtime(settings_with()) as runtime, runtime.db.write() as session:
            contact = await _find(session, workspace_slug, network, handle)
            return await export_contact(session, CLI_ACTOR, contact.workspace_id, contact.id)

    text = json.dumps(run(go()), ensure_ascii=False, indent=2)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n")
        click.echo(f"Exported to {output}")


@privacy.command("erase")
@_contact_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_command(workspace_slug: str | None, network: str, handle: str, yes: bool) -> None:
    """Erase one contact and everything about them, and print what was erased."""
    if not yes:
        click.confirm(f"Erase {handle} on {network} and all their messages?", abort=True)

    async def go() -> dict[str, int]:
        async with open_runtime(settings_with()) as runtime, runtime.db.write() as session:
            contact = await _find(session, workspace_slug, network, handle)
            report = await erase_contact(session, CLI_ACTOR, contact.workspace_id, contact.id)
            return report.counts

    for kind, count in sorted(run(go()).items()):
        click.echo(f"{kind}: {count}")


@privacy.command("retention")
@click.option("--workspace", "workspace_slug", help="Workspace slug.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def retention_command(workspace_slug: str | None, dry_run: bool) -> None:
    """Apply the workspace's retention policy now (the worker runs it every night)."""

    async def go() -> dict[str, int]:
        async with open_runtime(settings_with()) as runtime:
            async with runtime.db.read() as session:
                workspace = await resolve_workspace(session, workspace_slug)
            return await apply_retention(runtime.db, workspace.id, dry_run=dry_run)

    for kind, count in sorted(run(go()).items()):
        click.echo(f"{kind}: {count}")


COMMANDS = [privacy]
