"""One-shot import of a file of messages through the same pipeline as every connector.

Formats:

* ``jsonl`` — JSON Lines of normalised messages (SPEC §4), one per line;
* ``jetstream`` — Bluesky Jetstream events as JSON Lines (what ``/subscribe`` sends); posts
  are kept, other events (likes, follows, identity) are counted as ignored;
* ``mastodon`` — Mastodon Status (or Notification) entities, as a JSON array or JSON Lines;
* ``rss`` — an RSS, Atom or JSON Feed file.

Each format is read with its connector's own normaliser, so an imported message is stored
exactly as the live connector would store it (and a later live copy is a duplicate). A line
or entry that cannot be read is quarantined with the reason and counted, never fatal. The
target is ``--channel ID``, or the workspace's channel named "Import" for the format's network,
created when missing with ``"listen": false`` so the coordinator leaves it alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from allsang import audit
from allsang.authz import Actor
from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.models import Channel, Workspace
from allsang.errors import AllsangError
from allsang.ingest.message import InvalidMessage, NormalisedMessage
from allsang.ingest.pipeline import ChannelRef, IngestResult, Normaliser, Pipeline, normalised_json

FORMATS = ("jsonl", "jetstream", "mastodon", "rss")
NETWORKS = {"jsonl": "import", "jetstream": "bluesky", "mastodon": "mastodon", "rss": "rss"}
IMPORT_CHANNEL = "Import"
BATCH = 1000
IMPORT_ACTOR = Actor(kind="system", label="allsang import")


class ImportFailed(AllsangError):
    """The file or the target cannot be used at all (bad lines are quarantined instead)."""


@dataclass(frozen=True, slots=True)
class Source:
    """The file as batches of raw items; ``total`` and each step are in progress units."""

    total: int
    batches: Iterator[tuple[list[RawItem], int]]


def _lines(path: Path, name: str) -> Source:
    def batches() -> Iterator[tuple[list[RawItem], int]]:
        items: list[RawItem] = []
        advanced = 0
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                advanced += len(line)
                if line.strip():
                    items.append(RawItem(line, f"{name}:{number}"))
                if len(items) >= BATCH:
                    yield items, advanced
                    items, advanced = [], 0
        if items or advanced:
            yield items, advanced

    return Source(path.stat().st_size, batches())


def _chunked(items: list[RawItem]) -> Source:
    def batches() -> Iterator[tuple[list[RawItem], int]]:
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            yield chunk, len(chunk)

    return Source(len(items), batches())


def _mastodon(path: Path) -> Source:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip()
    if not head.startswith(b"["):
        return _lines(path, path.name)
    try:
        entities = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"{path} is not a JSON array of Mastodon statuses: {exc}") from None
    return _chunked([RawItem(e, f"{path.name}[{n}]") for n, e in enumerate(entities)])


def _feed(path: Path) -> Source:
    import feedparser

    from allsang.connectors.rss.normalise import raw_entry

    parsed = feedparser.parse(path.read_bytes())
    if not parsed.entries and parsed.get("bozo"):
        raise ImportFailed(f"{path} is not a feed: {parsed.get('bozo_exception')}")
    feed = parsed.get("feed", {})
    now = datetime.now(UTC)
    url = path.resolve().as_uri()
    return _chunked(
        [
            RawItem(raw_entry(entry, feed, feed_url=url, fetched_at=now), f"{path.name}#{n}")
            for n, entry in enumerate(parsed.entries, start=1)
        ]
    )


def read_source(path: Path, fmt: str) -> Source:
    if fmt not in FORMATS:
        raise ImportFailed(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise ImportFailed(f"{path} is not a file")
    if fmt == "mastodon":
        return _mastodon(path)
    if fmt == "rss":
        return _feed(path)
    return _lines(path, path.name)


def _mastodon_normaliser() -> Normaliser:
    from allsang.connectors.mastodon.normalise import is_notification, normalise_payload

    def normalise(raw: RawItem) -> NormalisedMessage | None:
        payload = raw.payload
        if isinstance(payload, bytes | str):
            try:
                payload = json.loads(payload)
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidMessage(f"not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise InvalidMessage(f"expected a JSON object, got {type(payload).__name__}")
        status = payload.get("status") if is_notification(payload) else payload
        status = status if isinstance(status, dict) else {}
        if isinstance(status.get("reblog"), dict):
            status = status["reblog"]
        # An export has no "connected instance": a local account's host is its profile's.
        account = status.get("account") if isinstance(status.get("account"), dict) else {}
        host = urlsplit(str(account.get("url") or status.get("url") or "")).hostname or ""
        return normalise_payload(payload, instance_host=host)

    return normalise


def normaliser(fmt: str) -> Normaliser:
    if fmt == "jetstream":
        from allsang.connectors.bluesky.normalise import normalise_item

        return normalise_item
    if fmt == "mastodon":
        return _mastodon_normaliser()
    if fmt == "rss":
        from allsang.connectors.rss.normalise import normalise_payload

        return lambda raw: normalise_payload(raw.payload)
    return normalised_json


async def import_channel(
    db: Database, fmt: str, *, channel_id: int | None = None, workspace: str | None = None
) -> ChannelRef:
    """The channel to import into: the one named, or the workspace's "Import" channel for the
    format's network (created when missing). Without a workspace, the only one there is."""
    network = NETWORKS[fmt]
    async with db.write() as session:
        if channel_id is not None:
            row = await session.get(Channel, channel_id)
            if row is None:
                raise ImportFailed(f"there is no channel {channel_id}")
            return ChannelRef(row.id, row.workspace_id, row.network)
        if workspace is not None:
            ws = await session.scalar(select(Workspace).where(Workspace.slug == workspace))
            if ws is None:
                raise ImportFailed(f"there is no workspace {workspace!r}")
        else:
            found = list(await session.scalars(select(Workspace).limit(2)))
            if len(found) != 1:
                raise ImportFailed(
                    "name the workspace with --workspace SLUG (or the channel with --channel ID)"
                    if found
                    else "there is no workspace yet; create one with `allsang user create`"
                )
            ws = found[0]
        row = await session.scalar(
            select(Channel).where(
                Channel.workspace_id == ws.id,
                Channel.network == network,
                Channel.name == IMPORT_CHANNEL,
            )
        )
        if row is None:
            row = Channel(
                workspace_id=ws.id,
                network=network,
                name=IMPORT_CHANNEL,
                config={"listen": False},
                cursor={},
                state="active",
            )
            session.add(row)
            await session.flush()
            audit.record(
                session,
                IMPORT_ACTOR,
                "channel.create",
                "channel",
                row.id,
                workspace_id=ws.id,
                network=network,
                name=IMPORT_CHANNEL,
            )
        return ChannelRef(row.id, row.workspace_id, row.network)


async def import_file(
    pipeline: Pipeline,
    channel: ChannelRef,
    source: Source,
    fmt: str,
    progress: Callable[[int], Any] = lambda _: None,
) -> IngestResult:
    """Store every item of ``source`` in ``channel``; ``progress`` gets each step's units."""
    total = IngestResult()
    normalise = normaliser(fmt)
    for items, advanced in source.batches:
        if items:
            result = await pipeline.ingest(channel, items, normalise)
            result.message_ids = []  # the summary is all a caller needs; keep memory flat
            total.add(result)
        progress(advanced)
    return total
