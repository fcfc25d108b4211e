"""The Bluesky connector: listen (Jetstream, notifications, keyword search), converse (reply,
direct message through Bluesky's chat service) and publish.

Configuration (``channel.config``), all optional:

* ``jetstream_url`` — the Jetstream ``/subscribe`` endpoint; ``stream`` (default true) turns
  the stream on; ``wanted_dids`` limits it to some accounts; ``keywords`` keeps only posts
  that contain one of them (case-insensitive) and are also searched with ``searchPosts``.
* ``service`` — the XRPC service (default ``https://bsky.social``); ``follow_pds`` (default
  true) lets the SDK move to the account's PDS after login.
* ``direct_messages`` (default true) reads the account's chat conversations too; it needs an
  app password made with "Allow access to your direct messages" (without it the channel goes
  on without DMs and logs why).
* ``batch_size`` (100), ``batch_seconds`` (1.0), ``overlap_seconds`` (5), ``poll_seconds``
  (60), ``timeout`` (30).

Cursor: ``{"time_us": <Jetstream cursor>, "notifications": <indexedAt>, "search:<q>":
<indexedAt>, "dms": <chat rev>}``. A Jetstream batch's cursor is the largest ``time_us`` in it.
The stream is (re)opened at ``time_us`` minus the overlap, so events around a drop or a crash
are sent twice and the pipeline drops the second copy (the external id is the post's ``at://``
URI). Between stream rounds of ``poll_seconds``, notifications (mentions, replies, quotes) and
keyword searches are polled newest-first back to the saved ``indexedAt`` and emitted oldest
first. Direct messages are polled the same way by their ``rev`` (the chat service's ordered
revision): ``listConvos`` names the conversations whose ``rev`` moved past the saved one,
``getMessages`` reads each back to it; a new channel starts with each conversation's last
message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from atproto import models

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
from allsang.connectors.bluesky.auth import BlueskyCredentials
from allsang.connectors.bluesky.client import (
    DEFAULT_JETSTREAM,
    DEFAULT_SERVICE,
    DEFAULT_TIMEOUT,
    ChatNotAllowed,
    Jetstream,
    StreamDropped,
    Xrpc,
)
from allsang.connectors.bluesky.normalise import (
    NETWORK,
    POST_COLLECTION,
    chat_url,
    decode_frame,
    normalise_payload,
    web_url,
)
from allsang.ingest.message import InvalidMessage, NormalisedMessage

log = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_PAGES = 5  # per poll and source: a quiet channel needs one page, a busy one a few
GET_POSTS_LIMIT = 25  # the most URIs app.bsky.feed.getPosts takes in one call
CHAT_MAX_BYTES = 10_000  # chat.bsky.convo.defs#messageInput: text maxLength (UTF-8 bytes)


class BlueskyConnector:
    network: ClassVar[str] = NETWORK
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LISTEN, Capability.CONVERSE, Capability.PUBLISH}
    )
    # app.bsky.embed.images: at most 4 images of at most 1,000,000 bytes each (the lexicon's
    # maxSize); GIFs go as still images; video needs Bluesky's video service (not supported).
    media_limits: ClassVar[MediaLimits] = MediaLimits(
        max_files=4,
        kinds=frozenset({"image", "gif"}),
        max_bytes={"image": 1_000_000, "gif": 1_000_000},
    )

    def __init__(
        self,
        context: ChannelContext,
        *,
        xrpc: Xrpc | None = None,
        jetstream: Jetstream | None = None,
    ) -> None:
        config = context.config
        self.context = context
        self.stream = bool(config.get("stream", True))
        self.keywords = [str(k).strip() for k in config.get("keywords") or [] if str(k).strip()]
        self._folded = [k.casefold() for k in self.keywords]
        self.batch_size = int(config.get("batch_size", 100))
        self.batch_seconds = float(config.get("batch_seconds", 1.0))
        self.overlap_us = int(float(config.get("overlap_seconds", 5)) * 1_000_000)
        self.poll_seconds = float(config.get("poll_seconds", 60.0))
        self.direct_messages = bool(config.get("direct_messages", True))
        timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
        credentials = BlueskyCredentials.from_dict(context.credentials)
        self.xrpc = xrpc or Xrpc(
            str(config.get("service") or DEFAULT_SERVICE),
            credentials,
            timeout=timeout,
            follow_pds=bool(config.get("follow_pds", True)),
        )
        self.jetstream = jetstream or Jetstream(
            str(config.get("jetstream_url") or DEFAULT_JETSTREAM),
            wanted_dids=[str(d) for d in config.get("wanted_dids") or []],
            open_timeout=timeout,
        )
        self.handles: dict[str, str] = {}

    @property
    def token_expires_at(self) -> datetime | None:
        """When the current access JWT runs out (``None`` before login or without one)."""
        return self.xrpc.token_expires_at

    async def verify(self) -> str:
        """Log in and return the account's handle; a refused app password is AuthExpired."""
        await self.xrpc.login()
        return self.xrpc.handle

    # -- listen ---------------------------------------------------------------------------

    async def listen(self, cursor: dict[str, Any]) -> AsyncIterator[Batch]:
        state = dict(cursor or {})
        polling = self.xrpc.credentials is not None
        while True:
            if polling:
                async for batch in self._poll(state):
                    yield batch
            if not self.stream:
                return
            seconds = self.poll_seconds if polling else None
            async for batch in self._stream(state, seconds):
                yield batch

    def normalise(self, raw: RawItem) -> NormalisedMessage | None:
        return normalise_payload(raw.payload, handles=self.handles, own_did=self.xrpc.did)

    # -- XRPC polling ---------------------------------------------------------------------

    async def _poll(self, state: dict[str, Any]) -> AsyncIterator[Batch]:
        sources = [
            ("notifications", "app.bsky.notification.listNotifications", {}, "notifications")
        ]
        sources += [
            (f"search:{q}", "app.bsky.feed.searchPosts", {"q": q, "sort": "latest"}, "posts")
            for q in self.keywords
        ]
        for key, nsid, params, listed in sources:
            items = await self._newer(nsid, params, listed, state.get(key))
            if not items:
                continue
            for item in items:
                author = item.get("author") or {}
                if author.get("did") and author.get("handle"):
                    self.handles[str(author["did"])] = str(author["handle"])
            state[key] = max(str(i.get("indexedAt") or "") for i in items) or state.get(key)
            yield Batch(
                [RawItem(i, source=key) for i in reversed(items)],
                cursor=dict(state),
            )
        if self.direct_messages:
            try:
                chats = await self._new_chat_messages(state.get("dms"))
            except ChatNotAllowed as exc:
                log.warning("%s: %s; its direct messages are not read", self.context.account, exc)
                self.direct_messages = False
                return
            if chats:
                chats.sort(key=lambda i: str(i["message"].get("rev") or ""))
                state["dms"] = str(chats[-1]["message"].get("rev") or "") or state.get("dms")
                yield Batch([RawItem(i, source="dms") for i in chats], cursor=dict(state))

    async def _new_chat_messages(self, seen: str | None) -> list[dict[str, Any]]:
        """Chat messages with a ``rev`` after ``seen``, each as ``{"convo", "message"}``;
        without ``seen`` the last message of each conversation on the first page."""
        found: list[dict[str, Any]] = []
        page_cursor: str | None = None
        for _ in range(MAX_PAGES if seen else 1):
            query: dict[str, Any] = {"limit": PAGE_SIZE}
            if page_cursor:
                query["cursor"] = page_cursor
            body = await self.xrpc.query("chat.bsky.convo.listConvos", query, chat=True)
            convos = [c for c in body.get("convos") or [] if isinstance(c, dict) and c.get("id")]
            moved = [c for c in convos if not seen or str(c.get("rev") or "") > seen]
            for convo in moved:
                context = {"id": convo["id"], "members": _members(convo)}
                if seen:
                    messages = await self._chat_messages_after(str(convo["id"]), seen)
                else:
                    last = convo.get("lastMessage")
                    messages = [last] if isinstance(last, dict) else []
                found += [{"convo": context, "message": m} for m in messages]
            page_cursor = body.get("cursor")
            # Conversations come most recently active first: a page with one that has not
            # moved means the rest have not either.
            if len(moved) < len(convos) or not page_cursor:
                break
        return found

    async def _chat_messages_after(self, convo_id: str, seen: str) -> list[dict[str, Any]]:
        """The conversation's messages with a ``rev`` after ``seen`` (read newest first)."""
        found: list[dict[str, Any]] = []
        page_cursor: str | None = None
        for _ in range(MAX_PAGES):
            query: dict[str, Any] = {"convoId": convo_id, "limit": PAGE_SIZE}
            if page_cursor:
                query["cursor"] = page_cursor
            body = await self.xrpc.query("chat.bsky.convo.getMessages", query, chat=True)
            page = [m for m in body.get("messages") or [] if isinstance(m, dict)]
            fresh = [m for m in page if str(m.get("rev") or "") > seen]
            found += fresh
            page_cursor = body.get("cursor")
            if len(fresh) < len(page) or not page_cursor:
                break
        return found

    async def _newer(
        self, nsid: str, params: dict[str, Any], listed: str, seen: str | None
    ) -> list[dict[str, Any]]:
        """Items indexed after ``seen``, newest first; without ``seen`` only the first page
        (a new channel starts now, not with the account's whole history)."""
        found: list[dict[str, Any]] = []
        page_cursor: str | None = None
        for _ in range(MAX_PAGES if seen else 1):
            query = {**params, "limit": PAGE_SIZE}
            if page_cursor:
                query["cursor"] = page_cursor
            body = await self.xrpc.query(nsid, query)
            page = [i for i in body.get(listed) or [] if isinstance(i, dict)]
            fresh = [i for i in page if not seen or str(i.get("indexedAt") or "") >= seen]
            found += fresh
            page_cursor = body.get("cursor")
            if len(fresh) < len(page) or not page_cursor:
                break
        return found

    # -- Jetstream ------------------------------------------------------------------------

    async def _stream(self, state: dict[str, Any], seconds: float | None) -> AsyncIterator[Batch]:
        """Stream for ``seconds`` (forever when ``None``), reopening a dropped connection
        from the cursor; a connection that cannot be (re)opened raises TransientError."""
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds
        while deadline is None or loop.time() < deadline:
            start = state.get("time_us")
            resume = max(0, int(start) - self.overlap_us) if start is not None else None
            pending = _Pending()
            frames = self.jetstream.frames(resume)
            try:
                async for batch in self._batches(frames, state, pending, deadline):
                    yield batch
            except StreamDropped as exc:
                log.warning("%s; resuming from time_us %s", exc, state.get("time_us"))
            finally:
                await frames.aclose()
            if pending:
                yield pending.flush(state)

    async def _batches(
        self,
        frames: AsyncGenerator[str | bytes, None],
        state: dict[str, Any],
        pending: _Pending,
        deadline: float | None,
    ) -> AsyncIterator[Batch]:
        """Batches of at most ``batch_size`` items, each flushed ``batch_seconds`` after its
        first item at the latest. The next frame is awaited in a task that outlives a flush
        timeout, because cancelling the generator mid-read would end the stream."""
        loop = asyncio.get_running_loop()
        flush_at: float | None = None
        reader: asyncio.Task[str | bytes] | None = None
        try:
            while True:
                if reader is None:
                    reader = asyncio.ensure_future(anext(frames))
                limits = [t for t in (flush_at, deadline) if t is not None]
                wait = max(0.0, min(limits) - loop.time()) if limits else None
                done, _ = await asyncio.wait({reader}, timeout=wait)
                if not done:
                    if pending:
                        yield pending.flush(state)
                    flush_at = None
                    if deadline is not None and loop.time() >= deadline:
                        return
                    continue
                task, reader = reader, None
                try:
                    frame = task.result()
                except StopAsyncIteration:
                    return
                self._take(frame, pending)
                if pending.items and flush_at is None:
                    flush_at = loop.time() + self.batch_seconds
                if len(pending.items) >= self.batch_size:
                    yield pending.flush(state)
                    flush_at = None
        finally:
            if reader is not None and not reader.done():
                reader.cancel()
                with suppress(asyncio.CancelledError, StopAsyncIteration, TransientError):
                    await reader

    def _take(self, frame: str | bytes, pending: _Pending) -> None:
        """Add the frame to the batch as a raw item (decoded when it is JSON, as received when
        not), unless the keyword prefilter drops it; its ``time_us`` counts either way."""
        try:
            event = decode_frame(frame)
        except InvalidMessage:
            pending.items.append(RawItem(frame, source="jetstream"))
            return
        if isinstance(event, dict) and isinstance(event.get("time_us"), int):
            pending.newest = max(event["time_us"], pending.newest or 0)
        if not isinstance(event, dict) or not self._folded or self._wanted(event):
            pending.items.append(RawItem(event, source="jetstream"))

    def _wanted(self, event: dict[str, Any]) -> bool:
        commit = event.get("commit")
        if not isinstance(commit, dict) or commit.get("collection") != POST_COLLECTION:
            return True  # not a post: normalise decides, the prefilter is about words
        record = commit.get("record")
        text = str(record.get("text") or "").casefold() if isinstance(record, dict) else ""
        return any(k in text for k in self._folded)

    # -- converse and publish -------------------------------------------------------------

    async def reply(self, in_reply_to: str, text: str) -> Sent:
        """Reply to the post with this ``at://`` URI, in its thread (root and parent refs)."""
        posts = await self.xrpc.get_posts([in_reply_to])
        if not posts:
            raise PermanentError(f"the post to reply to is gone: {in_reply_to}")
        return _sent(await self.xrpc.send_post(text, reply_to=posts[0]))

    async def direct_message(self, handle: str, text: str) -> Sent:
        """Send ``text`` privately to ``handle`` (a handle or a DID) through Bluesky's chat
        service, in the conversation with them (opened if there is none yet)."""
        if len(text.encode()) > CHAT_MAX_BYTES:
            # limits.py counts the 1,000 graphemes; the lexicon also caps the UTF-8 bytes.
            raise PermanentError(f"a Bluesky direct message is at most {CHAT_MAX_BYTES} bytes")
        did = await self.xrpc.resolve_did(handle)
        convo = await self.xrpc.convo_with(did)
        if convo is None:
            raise PermanentError(
                f"{handle} does not accept direct messages from this account on Bluesky "
                "(their chat settings allow nobody or only people they follow, or one of you "
                "blocks the other)"
            )
        sent = await self.xrpc.send_message(convo.id, text)
        return Sent(
            external_id=sent.id,
            url=chat_url(convo.id),
            created_at=_timestamp(sent.sent_at),
        )

    async def publish(
        self, text: str, *, idempotency_key: str, media: Sequence[MediaFile] = ()
    ) -> Sent:
        """Post ``text``. Bluesky has no idempotency key: the caller must not retry blindly.

        ``media`` (images only, within :attr:`media_limits`) are uploaded as blobs and
        embedded with ``app.bsky.embed.images``, each with its alt text."""
        embed = None
        if media:
            if problem := self.media_limits.problem(media):
                raise PermanentError(f"Bluesky cannot take these files: {problem}")
            images = []
            for file in media:
                blob = await self.xrpc.upload_blob(
                    await asyncio.to_thread(file.read), file.mime_type
                )
                images.append(models.AppBskyEmbedImages.Image(alt=file.alt_text, image=blob))
            embed = models.AppBskyEmbedImages.Main(images=images)
        return _sent(await self.xrpc.send_post(text, embed=embed))

    async def engagement(self, external_ids: Sequence[str]) -> dict[str, Engagement]:
        """Likes, reposts (quotes included) and replies of each post
        (``app.bsky.feed.getPosts``, 25 URIs a call); a deleted post is not in the answer."""
        found: dict[str, Engagement] = {}
        uris = list(external_ids)
        for start in range(0, len(uris), GET_POSTS_LIMIT):
            for post in await self.xrpc.get_posts(uris[start : start + GET_POSTS_LIMIT]):
                found[str(post.get("uri"))] = Engagement(
                    likes=int(post.get("likeCount") or 0),
                    reposts=int(post.get("repostCount") or 0) + int(post.get("quoteCount") or 0),
                    replies=int(post.get("replyCount") or 0),
                )
        return found

    async def close(self) -> None:
        await self.xrpc.close()


def _members(convo: dict[str, Any]) -> list[dict[str, str]]:
    """Who is in a conversation, as much as normalising needs (the full profile views with
    their known followers would be most of every stored message)."""
    return [
        {k: str(m[k]) for k in ("did", "handle", "displayName") if m.get(k)}
        for m in convo.get("members") or []
        if isinstance(m, dict)
    ]


def _timestamp(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _sent(created: Any) -> Sent:
    uri = str(created.uri)
    return Sent(external_id=uri, url=web_url(uri), created_at=None)


@dataclass(slots=True)
class _Pending:
    """The batch being filled and the largest ``time_us`` seen in its frames (also those the
    keyword prefilter dropped, so a quiet filter still moves the cursor)."""

    items: list[RawItem] = field(default_factory=list)
    newest: int | None = None

    def __bool__(self) -> bool:
        return bool(self.items) or self.newest is not None

    def flush(self, state: dict[str, Any]) -> Batch:
        if self.newest is not None and self.newest > int(state.get("time_us") or 0):
            state["time_us"] = self.newest
        batch = Batch(self.items, cursor=dict(state))
        self.items, self.newest = [], None
        return batch
