"""Administration commands: people, API tokens and secret keys."""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import ROLE_NAMES, Actor
from allsang.cli.common import run, settings_with
from allsang.db.models import Channel, KeyCheck, Membership, Person, Workspace
from allsang.errors import AllsangError
from allsang.runtime import open_runtime
from allsang.secretbox import generate_key

CLI_ACTOR = Actor(kind="system", label="cli")


class CommandError(AllsangError):
    """The command's arguments do not fit what the database holds."""


async def resolve_workspace(session: AsyncSession, slug: str | None) -> Workspace:
    """The workspace named by ``slug``; without one, the only workspace (or "demo")."""
    if slug:
        workspace = await session.scalar(select(Workspace).where(Workspace.slug == slug))
        if workspace is None:
            raise CommandError(f"There is no workspace {slug!r}.")
        return workspace
    workspaces = list(await session.scalars(select(Workspace).order_by(Workspace.id)))
    if len(workspaces) == 1:
        return workspaces[0]
    demo = [w for w in workspaces if w.slug == "demo"]
    if demo:
        return demo[0]
    if not workspaces:
        raise CommandError(
            "There is no workspace yet. Create one with `allsang user create`, or start "
            "`allsang serve --demo`."
        )
    slugs = ", ".join(w.slug for w in workspaces)
    raise CommandError(f"There are several workspaces ({slugs}); choose one with --workspace.")


@click.group()
def user() -> None:
    """Manage the people who log in."""


@user.command("create")
@click.option("--email", required=True, help="Login e-mail address.")
@click.option("--name", required=True, help="Full name shown to colleagues.")
@click.option("--role", type=click.Choice(ROLE_NAMES), default="owner", show_default=True)
@click.option("--workspace", "workspace_slug", help="Workspace slug (created if none exist).")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="ALLSANG_NEW_PASSWORD",
    help="Password; prompted for when not given (or set ALLSANG_NEW_PASSWORD).",
)
def user_create(
    email: str, name: str, role: str, workspace_slug: str | None, password: str
) -> None:
    """Create a person with a role in a workspace (the first workspace is created too)."""
    from allsang.auth.passwords import hash_password

    if len(password) < 10:
        raise CommandError("The password must have at least 10 characters.")
    email = email.strip().lower()
    password_hash = hash_password(password)

    async def _create() -> str:
        async with open_runtime(settings_with(), migrate=True) as runtime, runtime.db.write() as s:
            has_workspace = await s.scalar(select(Workspace.id).limit(1))
            if has_workspace is None:
                workspace = Workspace(slug=workspace_slug or "main", name="Allsang")
                s.add(workspace)
                await s.flush()
            else:
                workspace = await resolve_workspace(s, workspace_slug)
            if await s.scalar(select(Person.id).where(Person.email == email)) is not None:
                raise CommandError(f"A person with the e-mail address {email} already exists.")
            person = Person(email=email, name=name, password_hash=password_hash)
            s.add(person)
            await s.flush()
            s.add(Membership(workspace_id=workspace.id, person_id=person.id, role=role))
            audit.record(
                s,
                CLI_ACTOR,
                "person.create",
                "person",
                person.id,
                workspace_id=workspace.id,
                email=email,
                role=role,
            )
            return workspace.slug

    slug = run(_create())
    click.echo(f"Created {email} as {role} in workspace {slug}.")


@click.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.option("--role", type=click.Choice(ROLE_NAMES), default="editor", show_default=True)
@click.option("--name", default="CLI token", show_default=True, help="What the token is for.")
@click.option("--workspace", "workspace_slug", help="Workspace slug (default: the only one).")
def token_create(role: str, name: str, workspace_slug: str | None) -> None:
    """Create an API token; the token alone is printed on the last line."""
    from allsang.auth.tokens import create_api_token

    async def _create() -> tuple[str, str]:
        async with open_runtime(settings_with()) as runtime, runtime.db.write() as s:
            workspace = await resolve_workspace(s, workspace_slug)
            secret = await create_api_token(s, workspace_id=workspace.id, role=role, name=name)
            audit.record(
                s,
                CLI_ACTOR,
                "token.create",
                "api_token",
                None,
                workspace_id=workspace.id,
                role=role,
                name=name,
            )
            return workspace.slug, secret

    slug, secret = run(_create())
    click.echo(f"API token for workspace {slug} with role {role} (shown once):")
    click.echo(secret)


@click.group()
def keys() -> None:
    """Manage the secret keys that encrypt channel credentials."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new key. Put it first in ALLSANG_SECRET_KEYS, then run `allsang keys rotate`."""
    click.echo(generate_key())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret with the first configured key."""

    async def _rotate() -> int:
        async with open_runtime(settings_with()) as runtime, runtime.db.write() as s:
            count = 0
            for channel in await s.scalars(select(Channel).where(Channel.credentials.is_not(None))):
                channel.credentials = runtime.secrets.rotate(channel.credentials)  # type: ignore[arg-type]
                count += 1
            check = await s.get(KeyCheck, 1)
            if check is not None:
                check.token = runtime.secrets.rotate(check.token)
            audit.record(s, CLI_ACTOR, "keys.rotate", "secretbox", None, channels=count)
            return count

    count = run(_rotate())
    click.echo(
        f"Re-encrypted {count} channel credential(s) with the first key. "
        "The older keys can now be removed."
    )


COMMANDS = [user, token, keys]
