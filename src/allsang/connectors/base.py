"""The Connector port: what every network integration provides.

A connector is one folder under ``allsang/connectors/<network>/`` (client, auth, normalise,
fixtures, tests, a page in ``docs/connectors/``) and is registered through the entry-point
group ``allsang.connectors`` so other packages can add networks.

Contract:

* **Construction:** ``cls(context: ChannelContext)`` — the coordinator builds every connector
  as ``registry.connector_class(network)(ChannelContext(channel_id, account, config,
  credentials))`` with the channel's configuration and its decrypted credentials (further
  keyword-only parameters are for tests: a fake transport, a client). The constructor does no
  network I/O (consumers build connectors only to call ``normalise``); a configuration that
  can never work raises :class:`PermanentError`.
* Optional attributes the coordinator reads: ``poll_seconds`` (float; the pause between two
  ``listen`` calls of a polling connector, else the channel's ``config["poll_seconds"]``, else
  60) and ``token_expires_at`` (``datetime | None``; shown in the channel's health).
* ``network`` is the short name used in normalised messages (``"mastodon"``).
* ``capabilities`` says what it can do: ``listen`` (mentions, search, streams), ``converse``
  (reply, comment, direct message) and ``publish``.
* ``listen(cursor)`` yields :class:`Batch` objects. Each batch carries the raw items exactly as
  received and the cursor that is valid *once those items are stored*; the pipeline saves the
  cursor in the transaction that stores the batch, so a crash replays at most the last batch
  (duplicates are dropped on (channel, external id)). ``listen`` returns when the source has
  nothing more for now (polling connectors) or runs until cancelled (streams).
* ``normalise(raw)`` turns one raw item into a :class:`NormalisedMessage`, returns ``None`` for
  items that are not messages (a like, a follow), or raises :class:`InvalidMessage` with the
  reason; the pipeline quarantines the item and goes on.
* Network failures are raised as the typed errors below, so the coordinator can tell a blip from
  a revoked token: :class:`TransientError` (retry with backoff), :class:`RateLimited` (wait
  ``retry_after`` seconds), :class:`AuthExpired` (the channel needs a person to reconnect it)
  and :class:`PermanentError` (the request can never succeed as made).
* **Media** (optional): a publishing connector that can attach files declares
  ``media_limits`` (a :class:`MediaLimits`) and accepts ``media=`` in ``publish``; one without
  it is only ever called with text (the publishing service refuses media for it at scheduling).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from allsang.ingest.message import NormalisedMessage


class Capability(StrEnum):
    LISTEN = "listen"
    CONVERSE = "converse"
    PUBLISH = "publish"


@dataclass(frozen=True, slots=True)
class RawItem:
    """One item as the network sent it (a decoded JSON object, text or bytes)."""

    payload: Any
    source: str = ""


@dataclass(slots=True)
class Batch:
    items: list[RawItem]
    cursor: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    """What the network answered to a reply or a post."""

    external_id: str
    url: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Engagement:
    """What a network reports about one published post (counts at the time of asking)."""

    likes: int = 0
    reposts: int = 0
    replies: int = 0


@dataclass(slots=True)
class ChannelContext:
    """What a connector instance gets: the channel's configuration and decrypted secrets."""

    channel_id: int
    account: str
    config: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, Any] = field(default_factory=dict)


class ConnectorError(Exception):
    """Base of the typed errors; ``str(error)`` is shown to people in the channel's health."""


class TransientError(ConnectorError):
    """A network blip, a timeout or a 5xx: retry with backoff."""


class RateLimited(TransientError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthExpired(ConnectorError):
    """The credentials no longer work: the channel needs reconnecting by a person."""


class PermanentError(ConnectorError):
    """The request can never succeed as made (404, 422, a malformed configuration)."""


@runtime_checkable
class Connector(Protocol):
    network: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]

    def listen(self, cursor: dict[str, Any]) -> AsyncIterator[Batch]: ...

    def normalise(self, raw: RawItem) -> NormalisedMessage | None: ...


@runtime_checkable
class Conversing(Protocol):
    """A connector with the ``converse`` capability."""

    async def reply(self, in_reply_to: str, text: str) -> Sent:
        """Answer the message with this external id, publicly where the network threads."""
        ...

    async def direct_message(self, handle: str, text: str) -> Sent:
        """Send a private message to the author with this handle."""
        ...


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One file to attach to a post: where its bytes are, their type and their description.

    ``kind`` is ``image``, ``gif`` or ``video``; ``alt_text`` is what people who cannot see the
    file read (Mastodon's ``description``, Bluesky's ``alt``)."""

    path: Path
    mime_type: str
    alt_text: str = ""
    kind: str = "image"
    size: int = 0

    def read(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """What a network accepts in one post: at most ``max_files`` files of ``kinds``, each at
    most ``max_bytes[kind]`` bytes (no entry: no limit of ours), and a video only alone when
    ``video_alone``."""

    max_files: int
    kinds: frozenset[str]
    max_bytes: dict[str, int] = field(default_factory=dict)
    video_alone: bool = True

    def problem(self, files: Sequence[MediaFile]) -> str | None:
        """Why the network would refuse these files, in words for people; None if it would not."""
        if len(files) > self.max_files:
            return f"at most {self.max_files} files per post"
        for file in files:
            if file.kind not in self.kinds:
                return f"{file.kind} files cannot be attached"
            limit = self.max_bytes.get(file.kind)
            if limit is not None and file.size > limit:
                return f"each {file.kind} may be at most {_size(limit)} ({_size(file.size)} given)"
        if self.video_alone and len(files) > 1 and any(f.kind == "video" for f in files):
            return "a video cannot be combined with other files"
        return None


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 100_000 else f"{count / 1000:.0f} kB"


@runtime_checkable
class Publishing(Protocol):
    """A connector with the ``publish`` capability."""

    async def publish(self, text: str, *, idempotency_key: str) -> Sent:
        """Post ``text``; the key lets networks that support it refuse a duplicate.

        Connectors that declare ``media_limits`` also take ``media: Sequence[MediaFile] = ()``
        (keyword-only) and attach those files, in order, with their alt text; callers pass
        ``media`` only to such connectors and only files within the limits."""
        ...


@runtime_checkable
class ReportsEngagement(Protocol):
    """A publishing connector that can tell how its posts were received."""

    async def engagement(self, external_ids: Sequence[str]) -> dict[str, Engagement]:
        """The current counts of the posts ``external_ids`` (ids as :class:`Sent` gave them).

        A post the network no longer has (deleted) is left out of the answer; a failure to ask
        raises a typed :class:`ConnectorError` like every other call."""
        ...


def media_limits(connector_class: type) -> MediaLimits | None:
    """The media a connector class can publish, or None when it publishes text only."""
    limits = getattr(connector_class, "media_limits", None)
    return limits if isinstance(limits, MediaLimits) else None
