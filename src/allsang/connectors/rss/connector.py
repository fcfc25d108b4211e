"""The RSS/Atom connector: polls one feed (blogs, news sites, press rooms).

Cursor: ``{"etag": …, "modified": …, "seen": [guid, …]}``. ``etag``/``modified`` are sent back
as ``If-None-Match``/``If-Modified-Since`` (a ``304`` yields one empty batch with the cursor
unchanged). ``seen`` holds the last ``remember`` GUIDs so entries already taken are not
offered again; the pipeline's (channel, external id) uniqueness is the backstop when a feed
is longer than that memory.

New entries are yielded oldest first, in batches of ``batch_size``. Only the last batch of a
fetch carries the new ``etag``/``modified``: a crash in the middle replays the fetch instead
of answering ``304`` for entries that were never stored.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from allsang.connectors.base import Batch, Capability, ChannelContext, PermanentError, RawItem
from allsang.connectors.rss.client import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, fetch_feed
from allsang.connectors.rss.normalise import (
    NETWORK,
    entry_date,
    entry_guid,
    normalise_payload,
    raw_entry,
)
from allsang.ingest.message import InvalidMessage, NormalisedMessage

log = logging.getLogger(__name__)

REMEMBER = 1000
BATCH_SIZE = 200


class RssConnector:
    network: ClassVar[str] = NETWORK
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.LISTEN})

    def __init__(
        self, context: ChannelContext, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        config = context.config
        url = str(config.get("url") or "").strip()
        if not url.startswith(("http://", "https://")):
            raise PermanentError(f"a feed channel needs an http(s) url, not {url!r}")
        self.context = context
        self.url = url
        self.max_bytes = int(config.get("max_bytes", DEFAULT_MAX_BYTES))
        self.timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
        self.remember = int(config.get("remember", REMEMBER))
        self.batch_size = int(config.get("batch_size", BATCH_SIZE))
        username = context.credentials.get("username")
        password = str(context.credentials.get("password") or "")
        self.auth = (str(username), password) if username else None
        self.transport = transport
        self.warnings: list[str] = []

    async def listen(self, cursor: dict[str, Any]) -> AsyncIterator[Batch]:
        cursor = dict(cursor or {})
        fetched_at = datetime.now(UTC)
        feed = await fetch_feed(
            self.url,
            etag=cursor.get("etag"),
            modified=cursor.get("modified"),
            auth=self.auth,
            max_bytes=self.max_bytes,
            request_timeout=self.timeout,
            transport=self.transport,
        )
        if feed is None:
            yield Batch(items=[], cursor=cursor)
            return
        self.warnings = feed.warnings
        for warning in feed.warnings:
            log.warning("feed %s: %s", self.url, warning)

        seen: list[str] = [str(g) for g in cursor.get("seen") or []]
        known = set(seen)
        fresh: list[tuple[str, Any]] = []
        for entry in feed.parsed.entries:
            try:
                guid = entry_guid(entry)
            except InvalidMessage:
                guid = ""  # unidentifiable: offered as is, the pipeline quarantines it
            if guid and guid in known:
                continue
            known.add(guid)
            fresh.append((guid, entry))
        # Oldest first; undated entries keep their place after the dated ones (stable sort).
        fresh.sort(key=lambda pair: entry_date(pair[1]) or "\uffff")

        feed_meta = feed.parsed.get("feed", {})
        chunks = [fresh[i : i + self.batch_size] for i in range(0, len(fresh), self.batch_size)]
        for index, chunk in enumerate(chunks or [[]]):
            seen.extend(guid for guid, _ in chunk if guid)
            seen = seen[-self.remember :]
            state = {**cursor, "seen": list(seen)}
            if index == len(chunks) - 1 or not chunks:
                state.update(etag=feed.etag, modified=feed.modified)
                state = {k: v for k, v in state.items() if v is not None}
            items = [
                RawItem(
                    raw_entry(entry, feed_meta, feed_url=feed.url, fetched_at=fetched_at),
                    source=self.url,
                )
                for _, entry in chunk
            ]
            yield Batch(items=items, cursor=state)

    def normalise(self, raw: RawItem) -> NormalisedMessage | None:
        return normalise_payload(raw.payload)
