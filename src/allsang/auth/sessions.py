"""Server-side login sessions.

The cookie holds a random 256-bit token; the database holds only its SHA-256, so a leaked
database does not log anyone in. Sessions expire after ``settings.session_days`` and can be
revoked one by one (profile page) or all at once (password change, deactivation).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.authz import Actor
from allsang.db.models import LoginSession, Membership, Person, Workspace
from allsang.db.types import utcnow

COOKIE_NAME = "allsang_session"
# Writing last_seen_at on every page view would turn every read into a write.
_LAST_SEEN_GRANULARITY = timedelta(minutes=5)


def session_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionIdentity:
    """A valid session with the person, their workspace and role."""

    session: LoginSession
    person: Person
    workspace: Workspace
    role: str

    @property
    def actor(self) -> Actor:
        return person_actor(self.person, self.workspace.id, self.role)


def person_actor(person: Person, workspace_id: int, role: str) -> Actor:
    return Actor(
        kind="person",
        label=person.email,
        workspace_id=workspace_id,
        role=role,
        person_id=person.id,
    )


async def first_membership(session: AsyncSession, person_id: int) -> Membership | None:
    """The workspace a person lands in after logging in: their oldest membership."""
    return await session.scalar(
        select(Membership).where(Membership.person_id == person_id).order_by(Membership.id)
    )


async def create_session(
    session: AsyncSession,
    *,
    person_id: int,
    workspace_id: int,
    days: int,
    user_agent: str = "",
    ip: str | None = None,
) -> tuple[str, LoginSession]:
    """Start a session; returns the cookie token (shown once) and the row."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = LoginSession(
        token_hash=session_digest(token),
        person_id=person_id,
        workspace_id=workspace_id,
        user_agent=user_agent[:400],
        ip=ip,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(row)
    await session.flush()
    return token, row


async def resolve_session(session: AsyncSession, token: str) -> SessionIdentity | None:
    """The identity behind a cookie token, or None when it is unknown, expired or revoked,
    or when the person was deactivated or left the workspace."""
    now = utcnow()
    row = await session.execute(
        select(LoginSession, Person, Workspace, Membership.role)
        .join(Person, Person.id == LoginSession.person_id)
        .join(Workspace, Workspace.id == LoginSession.workspace_id)
        .join(
            Membership,
            (Membership.person_id == Person.id) & (Membership.workspace_id == Workspace.id),
        )
        .where(LoginSession.token_hash == session_digest(token))
    )
    found = row.first()
    if found is None:
        return None
    login, person, workspace, role = found
    if login.revoked_at is not None or login.expires_at <= now or not person.is_active:
        return None
    return SessionIdentity(session=login, person=person, workspace=workspace, role=role)


def needs_last_seen_update(login: LoginSession) -> bool:
    return utcnow() - login.last_seen_at > _LAST_SEEN_GRANULARITY


async def touch_session(session: AsyncSession, session_id: int) -> None:
    await session.execute(
        update(LoginSession).where(LoginSession.id == session_id).values(last_seen_at=utcnow())
    )


async def revoke_session(session: AsyncSession, *, session_id: int, person_id: int) -> bool:
    """Revoke one of a person's sessions; False when there is no such live session."""
    result = await session.execute(
        update(LoginSession)
        .where(
            LoginSession.id == session_id,
            LoginSession.person_id == person_id,
            LoginSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoke_all_sessions(
    session: AsyncSession, *, person_id: int, except_id: int | None = None
) -> int:
    statement = update(LoginSession).where(
        LoginSession.person_id == person_id, LoginSession.revoked_at.is_(None)
    )
    if except_id is not None:
        statement = statement.where(LoginSession.id != except_id)
    result = await session.execute(statement.values(revoked_at=utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def live_sessions(session: AsyncSession, person_id: int) -> list[LoginSession]:
    now = utcnow()
    rows = await session.scalars(
        select(LoginSession)
        .where(
            LoginSession.person_id == person_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now,
        )
        .order_by(LoginSession.last_seen_at.desc())
    )
    return list(rows)
