"""API bearer tokens: ``als_`` followed by 43 URL-safe characters; only the SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.authz import ROLE_NAMES, Actor
from allsang.db.models import ApiToken, Person
from allsang.db.types import utcnow

TOKEN_PREFIX = "als_"
# Writing last_used_at on every request would turn every API read into a write.
_LAST_USED_GRANULARITY = timedelta(minutes=5)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_api_token(
    session: AsyncSession,
    *,
    workspace_id: int,
    role: str,
    name: str,
    person_id: int | None = None,
) -> str:
    """Store a new token and return its plaintext, which is never shown again."""
    if role not in ROLE_NAMES:
        raise ValueError(f"unknown role {role!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            workspace_id=workspace_id,
            person_id=person_id,
            name=name,
            role=role,
            token_hash=token_digest(token),
            prefix=token[: len(TOKEN_PREFIX) + 4],
        )
    )
    await session.flush()
    return token


async def resolve_api_token(session: AsyncSession, token: str) -> tuple[Actor, ApiToken] | None:
    """The actor a bearer token stands for, or None when it is unknown, revoked or expired."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    label = f"token:{row.name}"
    if row.person_id is not None:
        person = await session.get(Person, row.person_id)
        if person is None or not person.is_active:
            return None
        label = f"token:{row.name} ({person.email})"
    actor = Actor(
        kind="token",
        label=label,
        workspace_id=row.workspace_id,
        role=row.role,
        person_id=row.person_id,
    )
    return actor, row


def needs_last_used_update(row: ApiToken) -> bool:
    return row.last_used_at is None or utcnow() - row.last_used_at > _LAST_USED_GRANULARITY


async def touch_api_token(session: AsyncSession, token_id: int) -> None:
    await session.execute(
        update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow())
    )
