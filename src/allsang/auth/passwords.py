"""Password hashing with argon2id (pwdlib's recommended parameters).

Hashing costs about 200 ms of CPU by design, so the async helpers run it in a worker thread.
Tests swap :data:`hasher` for a cheaper one; production never does.
"""

from __future__ import annotations

from functools import cache

import anyio.to_thread
from pwdlib import PasswordHash

MIN_PASSWORD_LENGTH = 10

hasher: PasswordHash = PasswordHash.recommended()


def hash_password(password: str) -> str:
    """Hash a password (blocking: call it from a thread in async code)."""
    return hasher.hash(password)


async def hash_password_async(password: str) -> str:
    return await anyio.to_thread.run_sync(hash_password, password)


@cache
def _dummy_hash(hasher_id: int) -> str:
    # Keyed by the hasher so that a swapped hasher (tests) gets a dummy in its own format.
    return hasher.hash("an unguessable password nobody has")


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password. Without a stored hash it still spends the time a real check would,
    so response times do not tell which e-mail addresses have an account."""
    stored = password_hash or _dummy_hash(id(hasher))
    try:
        ok = await anyio.to_thread.run_sync(hasher.verify, password, stored)
    except Exception:
        # A malformed stored hash must read as "wrong password", never as a server error.
        return False
    return ok and password_hash is not None
