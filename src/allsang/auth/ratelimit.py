"""Login rate limiting shared by every web process (rows in ``login_attempt``).

Failed attempts are counted per e-mail address and per client address over the last minute;
one key over the limit blocks the attempt before the password is even checked.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import LoginAttempt
from allsang.db.types import utcnow

WINDOW = timedelta(minutes=1)
# Old rows are useless for a one-minute window; keep a day for anyone looking into an attack.
_KEEP = timedelta(days=1)


def attempt_keys(email: str, ip: str | None) -> list[str]:
    keys = [f"email:{email.strip().lower()}"]
    if ip:
        keys.append(f"ip:{ip}")
    return keys


async def is_limited(session: AsyncSession, keys: list[str], limit: int) -> bool:
    since = utcnow() - WINDOW
    rows = await session.execute(
        select(LoginAttempt.key, func.count())
        .where(LoginAttempt.key.in_(keys), LoginAttempt.attempted_at > since)
        .group_by(LoginAttempt.key)
    )
    return any(count >= limit for _key, count in rows)


async def record_failure(session: AsyncSession, keys: list[str]) -> None:
    now = utcnow()
    await session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.key.in_(keys), LoginAttempt.attempted_at < now - _KEEP
        )
    )
    session.add_all(LoginAttempt(key=key[:400], attempted_at=now) for key in keys)


async def clear_failures(session: AsyncSession, email: str) -> None:
    """A successful login forgives the address's failures (not the client address's)."""
    await session.execute(
        delete(LoginAttempt).where(LoginAttempt.key == attempt_keys(email, None)[0])
    )
