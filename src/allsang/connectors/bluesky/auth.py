"""Bluesky credentials: a handle and an app password.

A channel's credentials are ``{"handle": "acme.bsky.social", "app_password": "xxxx-xxxx-…"}``.
The connector logs in with ``com.atproto.server.createSession`` and keeps the access and refresh
JWTs in memory; the SDK refreshes the access JWT (``refreshSession``) before it runs out. The
access JWT's ``exp`` claim, read without verifying the signature (we are not its audience, only
its bearer), is the channel's token expiry shown in its health.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from allsang.connectors.base import PermanentError


@dataclass(frozen=True, slots=True)
class BlueskyCredentials:
    handle: str
    app_password: str

    @classmethod
    def from_dict(cls, credentials: dict[str, Any]) -> BlueskyCredentials | None:
        """The credentials, ``None`` when the channel has none (a listen-only Jetstream
        channel needs no account), or PermanentError when they are half filled in."""
        handle = str(credentials.get("handle") or "").strip().lstrip("@")
        password = str(credentials.get("app_password") or "").strip()
        if not handle and not password:
            return None
        if not handle or not password:
            raise PermanentError("Bluesky credentials need both a handle and an app_password")
        return cls(handle=handle, app_password=password)


def jwt_expiry(token: str) -> datetime | None:
    """When a JWT expires (its ``exp`` claim), or ``None`` when it has none or is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    body = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(body))
        return datetime.fromtimestamp(float(claims["exp"]), tz=UTC)
    except (ValueError, TypeError, KeyError, OverflowError):
        return None
