"""Reading the network back: was this text published by our account after that instant?

Used when a delivery's previous attempt ended without an answer (the worker died, the call
timed out): before anything is sent again, the engine looks for the post on the network. A
reader returns the matching post as :class:`Sent`, ``None`` when it is not there, and raises a
typed connector error when it cannot tell. Networks without a reader are never resent blindly:
their delivery becomes "outcome unknown" for a person to decide.

Matching is on the exact text (HTML of the status stripped, whitespace collapsed) of a post
created at or after the attempt started, minus a clock-skew allowance, that no other delivery
of the channel has already claimed (the same text may be posted twice on purpose).
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from allsang.connectors.base import ChannelContext, Sent, TransientError
from allsang.connectors.mastodon.auth import MastodonCredentials, instance_url
from allsang.connectors.mastodon.client import USER_AGENT, map_status

Reader = Callable[[ChannelContext, str, datetime, frozenset[str]], Awaitable[Sent | None]]

CLOCK_SKEW = timedelta(minutes=2)
PAGE = 40
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p[^>]*>", re.IGNORECASE)


def comparable(text: str) -> str:
    """A status's HTML as plain text with whitespace collapsed, to compare with the plain text
    that was sent (whitespace collapsed too)."""
    text = _BREAK.sub(" ", text)
    text = html.unescape(_TAG.sub("", text))
    return " ".join(text.split())


def _created(status: dict[str, Any]) -> datetime | None:
    value = status.get("created_at")
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def mastodon(
    context: ChannelContext, text: str, since: datetime, known: frozenset[str]
) -> Sent | None:
    """Look through the account's newest statuses (one page) for ``text`` posted at or after
    ``since`` minus :data:`CLOCK_SKEW`, skipping the ``known`` ids other deliveries own."""
    base = instance_url(str(context.config.get("instance") or ""))
    token = MastodonCredentials.from_dict(context.credentials).access_token
    headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
    wanted = " ".join(text.split())
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30.0) as http:
            me = await http.get("/api/v1/accounts/verify_credentials")
            if me.status_code >= 400:
                raise map_status(me.status_code, me.headers, me.text[:200])
            account_id = me.json()["id"]
            page = await http.get(
                f"/api/v1/accounts/{account_id}/statuses",
                params={"limit": PAGE, "exclude_reblogs": "true"},
            )
            if page.status_code >= 400:
                raise map_status(page.status_code, page.headers, page.text[:200])
            statuses = page.json()
    except httpx.HTTPError as exc:
        raise TransientError(f"reading Mastodon back failed: {type(exc).__name__}") from exc
    for status in statuses:
        created = _created(status)
        if str(status.get("id")) in known:
            continue
        if created is not None and created < since - CLOCK_SKEW:
            continue
        if comparable(str(status.get("content") or "")) == wanted:
            return Sent(
                external_id=str(status["id"]),
                url=str(status.get("url") or status.get("uri") or ""),
                created_at=created,
            )
    return None


async def bluesky(
    context: ChannelContext, text: str, since: datetime, known: frozenset[str]
) -> Sent | None:
    """Look through the account's newest posts (``app.bsky.feed.getAuthorFeed``, one page, no
    reposts) for ``text`` created at or after ``since`` minus :data:`CLOCK_SKEW`."""
    from allsang.connectors import registry
    from allsang.connectors.bluesky.normalise import web_url

    connector: Any = registry.connector_class("bluesky")(context)  # type: ignore[call-arg]
    credentials = connector.xrpc.credentials
    actor = credentials.handle if credentials is not None else context.account.lstrip("@")
    try:
        feed = await connector.xrpc.query(
            "app.bsky.feed.getAuthorFeed",
            {"actor": actor, "limit": PAGE, "filter": "posts_no_replies"},
        )
    finally:
        await connector.close()
    wanted = " ".join(text.split())
    for item in feed.get("feed") or []:
        post = item.get("post") or {}
        uri = str(post.get("uri") or "")
        record = post.get("record") or {}
        if item.get("reason") or not uri or uri in known:
            continue  # a repost, or a post another delivery owns
        created = _created({"created_at": record.get("createdAt") or post.get("indexedAt")})
        if created is not None and created < since - CLOCK_SKEW:
            continue
        if " ".join(str(record.get("text") or "").split()) == wanted:
            return Sent(external_id=uri, url=web_url(uri), created_at=created)
    return None


READERS: dict[str, Reader] = {"mastodon": mastodon, "bluesky": bluesky}

# How long a network remembers an idempotency key: within it, sending again with the same key
# cannot make a second post (Mastodon keeps Idempotency-Key for one hour; a margin is kept).
IDEMPOTENCY_WINDOWS: dict[str, timedelta] = {"mastodon": timedelta(minutes=50)}
