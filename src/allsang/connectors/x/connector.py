"""The X (Twitter) API v2 connector: listen (mentions, recent search), converse (reply, direct
message) and publish. X's API is paid and tiered: what works depends on the account's plan.

Credentials: ``{"bearer_token": "…"}`` — an OAuth 2.0 user-context access token (scopes
``tweet.read users.read tweet.write``) for mentions, replies and posts, plus ``dm.read
dm.write`` for direct messages; an app-only bearer token is enough for search alone.
Configuration: ``user_id`` (the account's numeric id; asked from ``/2/users/me`` when
missing), ``mentions`` (default true), ``queries`` (recent-search queries), ``base_url``
(default ``https://api.twitter.com``), ``timeout``.

Cursor: ``{"mentions": since_id, "search:<query>": since_id}``. Each source is read newest
first with ``since_id`` (every page until X has no ``next_token``, at most five) and emitted
oldest first in one batch whose cursor is the newest id. A new source starts with one page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

from allsang.connectors.base import (
    Batch,
    Capability,
    ChannelContext,
    PermanentError,
    RawItem,
    Sent,
)
from allsang.connectors.x.client import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, Forbidden, XApi
from allsang.connectors.x.normalise import NETWORK, normalise_payload, snowflake_time
from allsang.ingest.message import NormalisedMessage

PAGE_SIZE = 100
MAX_PAGES = 5
TWEET_FIELDS = ["created_at", "lang", "conversation_id", "referenced_tweets", "author_id"]
USER_FIELDS = ["username", "name"]

Page = Callable[[str | None, str | None], Awaitable[dict[str, Any]]]


class XConnector:
    network: ClassVar[str] = NETWORK
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LISTEN, Capability.CONVERSE, Capability.PUBLISH}
    )

    def __init__(self, context: ChannelContext, *, api: XApi | None = None) -> None:
        config = context.config
        token = str(context.credentials.get("bearer_token") or "").strip()
        if api is None and not token:
            raise PermanentError("the X channel has no bearer_token in its credentials")
        self.context = context
        self.user_id = str(config.get("user_id") or "")
        self.mentions = bool(config.get("mentions", True))
        self.queries = [str(q) for q in config.get("queries") or [] if str(q).strip()]
        self.page_size = int(config.get("page_size", PAGE_SIZE))
        self.api = api or XApi(
            token,
            base_url=str(config.get("base_url") or DEFAULT_BASE_URL),
            timeout=float(config.get("timeout", DEFAULT_TIMEOUT)),
        )

    async def verify(self) -> str:
        """The account's username (``/2/users/me``); remembers its id for mentions."""
        me = await self.api.get_me(user_auth=False)
        self.user_id = str(me["data"]["id"])
        return str(me["data"]["username"])

    # -- listen ---------------------------------------------------------------------------

    async def listen(self, cursor: dict[str, Any]) -> AsyncIterator[Batch]:
        state = dict(cursor or {})
        if self.mentions and not self.user_id:
            await self.verify()
        for key, page, addressed in self._sources():
            tweets = await self._newer(page, state.get(key))
            if not tweets:
                continue
            state[key] = max((t["data"]["id"] for t in tweets), key=lambda i: (len(i), i))
            items = [RawItem({**t, "addressed": addressed}, source=key) for t in reversed(tweets)]
            yield Batch(items, cursor=dict(state))

    def _sources(self) -> list[tuple[str, Page, bool]]:
        fields: dict[str, Any] = {
            "expansions": ["author_id"],
            "tweet_fields": TWEET_FIELDS,
            "user_fields": USER_FIELDS,
            "max_results": self.page_size,
            "user_auth": False,
        }
        sources: list[tuple[str, Page, bool]] = []
        if self.mentions:

            async def mentions(since: str | None, token: str | None) -> dict[str, Any]:
                return await self.api.get_users_mentions(
                    self.user_id, since_id=since, pagination_token=token, **fields
                )

            sources.append(("mentions", mentions, True))
        for query in self.queries:

            async def search(
                since: str | None, token: str | None, query: str = query
            ) -> dict[str, Any]:
                return await self.api.search_recent_tweets(
                    query, since_id=since, next_token=token, **fields
                )

            sources.append((f"search:{query}", search, False))
        return sources

    async def _newer(self, page: Page, since: str | None) -> list[dict[str, Any]]:
        """Tweets after ``since``, newest first, each with its author in ``includes``."""
        found: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(MAX_PAGES if since else 1):
            body = await page(since, token)
            users = (body.get("includes") or {}).get("users") or []
            by_id = {u.get("id"): u for u in users if isinstance(u, dict)}
            for tweet in body.get("data") or []:
                if isinstance(tweet, dict) and str(tweet.get("id") or "").isdigit():
                    author = by_id.get(tweet.get("author_id"))
                    found.append({"data": tweet, "includes": {"users": [author] if author else []}})
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                break
        return found

    def normalise(self, raw: RawItem) -> NormalisedMessage | None:
        return normalise_payload(raw.payload, own_user_id=self.user_id)

    # -- converse and publish -------------------------------------------------------------

    async def reply(self, in_reply_to: str, text: str) -> Sent:
        created = await self.api.create_tweet(
            text=text, in_reply_to_tweet_id=in_reply_to, user_auth=False
        )
        return _sent(created)

    async def direct_message(self, handle: str, text: str) -> Sent:
        """Send ``text`` privately to the user ``handle`` (their username), in the one-to-one
        conversation with them (X opens it on the first message)."""
        username = handle.strip().removeprefix("@")
        user = await self.api.get_user(username=username, user_auth=False)
        user_id = str((user.get("data") or {}).get("id") or "")
        if not user_id:
            raise PermanentError(f"X has no user @{username}")
        try:
            created = await self.api.create_direct_message(
                participant_id=user_id, text=text, user_auth=False
            )
        except Forbidden as exc:
            # A 403 here is the recipient's choice or the token's missing dm.write scope; X
            # does not say which, so the reason names both.
            raise PermanentError(
                f"X refused the direct message to @{username}: they may not accept messages "
                f"from this account, or the token lacks the dm.write scope ({exc})"
            ) from exc
        data = created["data"]
        event_id = str(data["dm_event_id"])
        return Sent(
            external_id=event_id,
            url=f"https://x.com/messages/{data['dm_conversation_id']}",
            created_at=snowflake_time(event_id),
        )

    async def publish(self, text: str, *, idempotency_key: str) -> Sent:
        """Post ``text``. X has no idempotency key: the caller must not retry blindly."""
        return _sent(await self.api.create_tweet(text=text, user_auth=False))

    async def close(self) -> None:
        await self.api.close()


def _sent(created: dict[str, Any]) -> Sent:
    tweet_id = str(created["data"]["id"])
    return Sent(
        external_id=tweet_id,
        url=f"https://x.com/i/web/status/{tweet_id}",
        created_at=snowflake_time(tweet_id),
    )
