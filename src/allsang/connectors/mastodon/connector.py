"""The Mastodon connector: listen (mentions, DMs, hashtags, keyword search, the user stream),
converse (reply, direct message) and publish.

Cursor: one newest-seen id per source, ``{"notifications": id, "tag:<name>": id,
"search:<query>": id}``. Each source is paged forward with ``min_id`` (the page right after the
id, so nothing between two polls is skipped), oldest first, one :class:`Batch` per page whose
cursor covers exactly that page. A source without an id yet starts from its newest page
(no backfill of history).

Streaming (``config["streaming"]``): the user stream is opened, and as soon as it answers the
REST sources are caught up from the cursor (so nothing that arrived while the stream was down,
or between the poll and the stream opening, is lost; overlap is dropped as duplicates by the
pipeline). Mention notifications from the stream then advance the ``notifications`` id. A
connection dropped mid-stream is reopened, which catches up again; a stream that cannot be
opened raises the typed error. The stream is reopened every ``poll_seconds`` so hashtags and
keywords, which come only from REST, keep being polled.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import Any, ClassVar

from allsang.connectors.base import (
    Batch,
    Capability,
    ChannelContext,
    Engagement,
    MediaFile,
    MediaLimits,
    PermanentError,
    RawItem,
    Sent,
    TransientError,
)
from allsang.connectors.mastodon.auth import MastodonCredentials, instance_host, instance_url
from allsang.connectors.mastodon.client import DEFAULT_TIMEOUT, MastodonClient
from allsang.connectors.mastodon.normalise import (
    NETWORK,
    is_notification,
    normalise_payload,
    qualified_handle,
)
from allsang.ingest.message import NormalisedMessage

log = logging.getLogger(__name__)

PAGE_SIZE = 40  # Mastodon's maximum for notifications and timelines
NOTIFICATIONS = "notifications"

Fetch = Callable[[str | None], Awaitable[list[dict[str, Any]]]]


def id_order(value: str) -> tuple[int, str]:
    """Sort key for Mastodon ids: numeric strings of any length, or fixed-width flake ids."""
    return (len(value), value)


class MastodonConnector:
    network: ClassVar[str] = NETWORK
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LISTEN, Capability.CONVERSE, Capability.PUBLISH}
    )
    # Mastodon's defaults: 4 attachments, or one video; images 16 MB, videos 99 MB (uploads to
    # Allsang are smaller still, see allsang.publishing.media).
    media_limits: ClassVar[MediaLimits] = MediaLimits(
        max_files=4,
        kinds=frozenset({"image", "gif", "video"}),
        max_bytes={"image": 16 * 1024 * 1024, "gif": 16 * 1024 * 1024, "video": 99 * 1024 * 1024},
    )

    def __init__(self, context: ChannelContext, *, client: MastodonClient | None = None) -> None:
        config = context.config
        self.context = context
        self.instance_url = instance_url(str(config.get("instance") or ""))
        self.host = instance_host(self.instance_url)
        self.hashtags = [str(t).lstrip("#") for t in config.get("hashtags") or [] if str(t)]
        self.keywords = [str(k) for k in config.get("keywords") or [] if str(k).strip()]
        self.listen_notifications = bool(config.get("notifications", True))
        self.streaming = bool(config.get("streaming", False))
        self.poll_seconds = float(config.get("poll_seconds", 60.0))
        self.reconnect_delay = float(config.get("reconnect_delay", 1.0))
        self.page_size = int(config.get("page_size", PAGE_SIZE))
        self.visibility = str(config.get("visibility", "public"))
        self.media_timeout = float(config.get("media_timeout", 120.0))
        self.media_poll_seconds = float(config.get("media_poll_seconds", 0.5))
        self.own_handle = context.account if context.account.startswith("@") else ""
        self.client = client or MastodonClient(
            self.instance_url,
            MastodonCredentials.from_dict(context.credentials).access_token,
            timeout=float(config.get("timeout", DEFAULT_TIMEOUT)),
            streaming_url=config.get("streaming_url") or None,
        )

    # -- auth -----------------------------------------------------------------------------

    async def verify(self) -> str:
        """Check the token and return the account's handle (``@user@host``); a revoked token
        raises :class:`AuthExpired`."""
        account = await self.client.verify_credentials()
        self.own_handle = qualified_handle(str(account.get("acct") or ""), self.host)
        return self.own_handle

    # -- listen ---------------------------------------------------------------------------

    async def listen(self, cursor: dict[str, Any]) -> AsyncIterator[Batch]:
        state = dict(cursor or {})
        if not self.own_handle:
            await self.verify()
        if not self.streaming:
            async for batch in self._poll_all(state):
                yield batch
            return
        while True:
            async for batch in self._stream_round(state):
                yield batch
            await asyncio.sleep(self.reconnect_delay)

    def normalise(self, raw: RawItem) -> NormalisedMessage | None:
        return normalise_payload(raw.payload, instance_host=self.host, own_handle=self.own_handle)

    def _sources(self) -> list[tuple[str, Fetch]]:
        size = self.page_size
        sources: list[tuple[str, Fetch]] = []
        if self.listen_notifications:
            sources.append(
                (
                    NOTIFICATIONS,
                    lambda since: self.client.notifications(
                        min_id=since, limit=size, types=["mention"]
                    ),
                )
            )
        for tag in self.hashtags:
            sources.append(
                (
                    f"tag:{tag}",
                    lambda since, tag=tag: self.client.hashtag(tag, min_id=since, limit=size),
                )
            )
        for query in self.keywords:
            sources.append(
                (
                    f"search:{query}",
                    lambda since, q=query: self.client.search_statuses(q, min_id=since, limit=size),
                )
            )
        return sources

    async def _poll_all(self, state: dict[str, Any]) -> AsyncIterator[Batch]:
        yielded = False
        for key, fetch in self._sources():
            async for batch in self._poll(key, fetch, state):
                yielded = True
                yield batch
        if not yielded:
            # An empty batch still tells the pipeline the channel was reached.
            yield Batch(items=[], cursor=dict(state))

    async def _poll(self, key: str, fetch: Fetch, state: dict[str, Any]) -> AsyncIterator[Batch]:
        since: str | None = state.get(key)
        while True:
            page = [p for p in await fetch(since) if isinstance(p, dict) and p.get("id")]
            if not page:
                return
            page.sort(key=lambda p: id_order(str(p["id"])))
            newest = str(page[-1]["id"])
            if since is not None and id_order(newest) <= id_order(since):
                return  # a server that ignores min_id would otherwise loop forever
            state[key] = newest
            yield Batch(items=[RawItem(p, source=key) for p in page], cursor=dict(state))
            if since is None or len(page) < self.page_size:
                return
            since = newest

    async def _stream_round(self, state: dict[str, Any]) -> AsyncIterator[Batch]:
        deadline = time.monotonic() + self.poll_seconds
        phase = "opening"
        try:
            async with aclosing(self.client.stream()) as events:
                async for event in events:
                    if phase == "opening":
                        phase = "catching up"
                        async for batch in self._poll_all(state):
                            yield batch
                        phase = "streaming"
                    if event.event == "notification":
                        yield self._stream_batch(event.data, state)
                    if time.monotonic() >= deadline:
                        return
        except TransientError as exc:
            # Only a drop of an open stream is ours to absorb (by reopening and catching up);
            # failing to open it, or the REST catch-up failing, is the coordinator's to back off.
            if phase != "streaming":
                raise
            log.info("Mastodon stream of %s dropped (%s); catching up", self.host, exc)

    def _stream_batch(self, data: str, state: dict[str, Any]) -> Batch:
        try:
            payload: Any = json.loads(data)
        except ValueError:
            # Quarantined by the pipeline with its raw text; the cursor stays where it was.
            return Batch(items=[RawItem(data, source="stream:user")], cursor=dict(state))
        if isinstance(payload, dict) and is_notification(payload):
            notification_id = str(payload.get("id") or "")
            current = state.get(NOTIFICATIONS)
            if (
                payload.get("type") == "mention"
                and notification_id
                and (current is None or id_order(notification_id) > id_order(current))
            ):
                state[NOTIFICATIONS] = notification_id
        return Batch(items=[RawItem(payload, source="stream:user")], cursor=dict(state))

    # -- converse and publish -------------------------------------------------------------

    async def reply(self, in_reply_to: str, text: str) -> Sent:
        """Reply in the thread of status ``in_reply_to``, mentioning its author and the others
        it mentions (that is who sees a reply), with the parent's visibility."""
        parent = await self.client.status(in_reply_to)
        if not self.own_handle:
            await self.verify()
        mentions: list[str] = []
        accounts = [parent.get("account") or {}, *(parent.get("mentions") or [])]
        for account in accounts:
            if not isinstance(account, dict) or not account.get("acct"):
                continue
            handle = qualified_handle(str(account["acct"]), self.host)
            if handle.casefold() != self.own_handle.casefold() and handle not in mentions:
                mentions.append(handle)
        prefix = " ".join(m for m in mentions if m.casefold() not in text.casefold())
        status = await self.client.post(
            f"{prefix} {text}" if prefix else text,
            visibility=str(parent.get("visibility") or "public"),
            in_reply_to_id=in_reply_to,
        )
        return _sent(status)

    async def direct_message(self, handle: str, text: str) -> Sent:
        """A private (``direct``) status addressed to ``handle``."""
        handle = "@" + handle.strip().lstrip("@")
        if handle == "@":
            raise PermanentError("a direct message needs a recipient")
        return _sent(await self.client.post(f"{handle} {text}", visibility="direct"))

    async def publish(
        self, text: str, *, idempotency_key: str, media: Sequence[MediaFile] = ()
    ) -> Sent:
        """Post a status; Mastodon answers a repeated ``Idempotency-Key`` with the first post.

        ``media`` are uploaded first (``POST /api/v2/media`` with the alt text as
        ``description``) and attached in order. A file the instance processes asynchronously
        (HTTP 202, no ``url`` yet) is polled with ``GET /api/v1/media/:id`` until it has one,
        for at most ``config["media_timeout"]`` seconds (default 120); past that the attempt
        fails as transient, and the retry uploads again (an unattached upload posts nothing;
        Mastodon removes it after a day)."""
        media_ids = [await self._upload(file) for file in media]
        status = await self.client.post(
            text,
            visibility=self.visibility,
            idempotency_key=idempotency_key,
            media_ids=media_ids,
        )
        return _sent(status)

    async def engagement(self, external_ids: Sequence[str]) -> dict[str, Engagement]:
        """Favourites, boosts and replies of each status (``GET /api/v1/statuses/:id``, which
        every Mastodon version has); a status that is gone (HTTP 404) is left out."""
        found: dict[str, Engagement] = {}
        for status_id in external_ids:
            try:
                status = await self.client.status(status_id)
            except PermanentError:
                continue  # deleted, or no longer visible to this account
            found[status_id] = Engagement(
                likes=int(status.get("favourites_count") or 0),
                reposts=int(status.get("reblogs_count") or 0),
                replies=int(status.get("replies_count") or 0),
            )
        return found

    async def _upload(self, file: MediaFile) -> str:
        uploaded = await self.client.upload_media(
            await asyncio.to_thread(file.read),
            mime_type=file.mime_type,
            description=file.alt_text,
            file_name=file.path.name,
        )
        media_id = str(uploaded["id"])
        deadline = time.monotonic() + self.media_timeout
        pause = self.media_poll_seconds
        while not uploaded.get("url"):
            if time.monotonic() + pause > deadline:
                raise TransientError(
                    f"Mastodon was still processing media {media_id} "
                    f"after {self.media_timeout:.0f} seconds"
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)
            uploaded = await self.client.media(media_id)
        return media_id


def _sent(status: dict[str, Any]) -> Sent:
    created = status.get("created_at")
    return Sent(
        external_id=str(status["id"]),
        url=str(status.get("url") or status.get("uri") or ""),
        created_at=datetime.fromisoformat(created.replace("Z", "+00:00"))
        if isinstance(created, str)
        else None,
    )
