"""Images on wall screens, fetched through the server and cached on disk (no hotlinking).

Contracts:

* A post's images are the ``http(s)`` URLs in its message's ``extra["media"]`` (or
  ``attachments``) whose type is an image or unknown, at most :data:`MAX_IMAGES_PER_POST`;
  anything else (``javascript:``, ``data:``, video) is never shown. A screen refers to them as
  ``/walls/<wall>/media/<message>/<n>``, never by their address.
* :func:`cached` returns the cached image for an address, fetching it with
  :func:`allsang.safefetch.fetch` the first time: raster types only (PNG, JPEG, GIF, WebP,
  identified from the bytes; SVG is refused because it can carry scripts), at most
  :data:`MAX_IMAGE_BYTES`. One fetch per address and process at a time; a failure is cached
  for :data:`RETRY_FAILED` so 200 screens do not hammer a broken address.
* Bytes are written to ``<data_dir>/wall-media/<key[:2]>/<key>`` (atomically, by rename)
  before the row saying they are ready is committed. Several web processes must share
  the data directory, or each fetches once for itself.
* An uploaded logo is stored the same way under ``upload:<sha256>``; :func:`store_upload`
  checks it like a fetched image.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from allsang import safefetch
from allsang.db import Database
from allsang.db.models import Wall
from allsang.db.models.wall_media import WallMedia
from allsang.db.types import utcnow

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_LOGO_BYTES = 2 * 1024 * 1024
MAX_IMAGES_PER_POST = 4
FETCH_TIMEOUT = 10.0
RETRY_FAILED = timedelta(minutes=10)
UPLOAD_PREFIX = "upload:"


@dataclass(frozen=True, slots=True)
class Image:
    """An image a post refers to: its (untrusted) address and alt text."""

    url: str
    alt: str


@dataclass(frozen=True, slots=True)
class Cached:
    """A cached image, ready to serve."""

    path: Path
    content_type: str


class Unavailable(LookupError):
    """The image cannot be shown (refused, failed, or not an image); the message says why."""


def post_images(extra: Mapping[str, Any] | None) -> tuple[Image, ...]:
    """The images of a message that a screen may show (see the module doc)."""
    media = (extra or {}).get("media") or (extra or {}).get("attachments")
    if not isinstance(media, list):
        return ()
    images: list[Image] = []
    for item in media:
        if not isinstance(item, Mapping):
            continue
        url, kind = item.get("url"), item.get("type")
        if not isinstance(url, str) or not url.lower().startswith(("https://", "http://")):
            continue
        kind = kind.lower() if isinstance(kind, str) else ""
        if kind not in ("", "image", "unknown") and not kind.startswith("image/"):
            continue
        alt = item.get("alt") if isinstance(item.get("alt"), str) else ""
        images.append(Image(url=url[:2000], alt=str(alt)[:500]))
        if len(images) == MAX_IMAGES_PER_POST:
            break
    return tuple(images)


def key_of(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _path(data_dir: Path, key: str) -> Path:
    return data_dir / "wall-media" / key[:2] / key


def _write(data_dir: Path, key: str, content: bytes) -> None:
    target = _path(data_dir, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
        handle.write(content)
    os.replace(handle.name, target)


async def _row(db: Database, key: str) -> WallMedia | None:
    async with db.read() as session:
        return await session.scalar(select(WallMedia).where(WallMedia.key == key))


async def _save(
    db: Database, key: str, source: str, state: str, content_type: str, size: int, error: str
) -> None:
    for _attempt in range(2):
        try:
            async with db.write() as session:
                row = await session.scalar(select(WallMedia).where(WallMedia.key == key))
                if row is None:
                    row = WallMedia(key=key, source=source)
                    session.add(row)
                row.state, row.content_type, row.size = state, content_type, size
                row.error, row.fetched_at = error[:200], utcnow()
            return
        except IntegrityError:
            continue  # another process inserted the same key first: update its row


def _usable(row: WallMedia | None, data_dir: Path) -> Cached | None:
    if row is None or row.state != "ready":
        return None
    path = _path(data_dir, row.key)
    return Cached(path, row.content_type) if path.is_file() else None


def _recently_failed(row: WallMedia | None) -> bool:
    return row is not None and row.state == "failed" and utcnow() - row.fetched_at < RETRY_FAILED


# One lock per address being fetched; it disappears when no fetch holds or waits for it.
_LOCKS: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


async def cached(
    db: Database,
    data_dir: Path,
    source: str,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    allow_private_networks: bool = False,
    retry_failed: bool = False,
) -> Cached:
    """The image at ``source`` from the cache, fetched first if needed; :class:`Unavailable`
    if it cannot be shown. ``retry_failed`` fetches again even if the last attempt failed
    less than :data:`RETRY_FAILED` ago (a person just saved the address)."""
    key = key_of(source)
    row = await _row(db, key)
    if (found := _usable(row, data_dir)) is not None:
        return found
    if source.startswith(UPLOAD_PREFIX):
        raise Unavailable("the uploaded image is gone")
    if _recently_failed(row) and not retry_failed:
        raise Unavailable(row.error)  # type: ignore[union-attr]
    lock = _LOCKS.get(key)
    if lock is None:
        lock = _LOCKS[key] = asyncio.Lock()
    async with lock:
        row = await _row(db, key)
        if (found := _usable(row, data_dir)) is not None:
            return found
        if _recently_failed(row) and not retry_failed:
            raise Unavailable(row.error)  # type: ignore[union-attr]
        try:
            fetched = await safefetch.fetch(
                source,
                max_bytes=max_bytes,
                allowed_types=IMAGE_TYPES,
                timeout=FETCH_TIMEOUT,
                allow_private_networks=allow_private_networks,
            )
        except safefetch.FetchError as exc:
            await _save(db, key, source, "failed", "", 0, f"{type(exc).__name__}: {exc}")
            raise Unavailable(str(exc)) from None
        await asyncio.to_thread(_write, data_dir, key, fetched.content)
        await _save(db, key, source, "ready", fetched.content_type, len(fetched.content), "")
        return Cached(_path(data_dir, key), fetched.content_type)


class InvalidImage(ValueError):
    """An uploaded file is too large or not a PNG, JPEG, GIF or WebP image."""


async def store_upload(
    db: Database, data_dir: Path, content: bytes, *, max_bytes: int = MAX_LOGO_BYTES
) -> str:
    """Store an uploaded image and return its source (``upload:<sha256>``) for the wall."""
    if len(content) > max_bytes:
        raise InvalidImage("too large")
    content_type = safefetch.sniff_image(content[:32])
    if content_type is None or content_type not in IMAGE_TYPES:
        raise InvalidImage("not an image")
    source = UPLOAD_PREFIX + hashlib.sha256(content).hexdigest()
    key = key_of(source)
    await asyncio.to_thread(_write, data_dir, key, content)
    await _save(db, key, source, "ready", content_type, len(content), "")
    return source


KEEP_FETCHED = timedelta(days=30)


async def purge(db: Database, data_dir: Path) -> int:
    """Forget fetched copies older than :data:`KEEP_FETCHED` (a screen that still shows the
    post fetches it again), failures older than :data:`RETRY_FAILED`, and uploaded logos no
    wall uses any more (after a day, so a form being saved is not raced). Returns how many
    rows went; their files are deleted after the rows."""
    now = utcnow()
    async with db.write() as session:
        used = set(await session.scalars(select(Wall.logo_url).where(Wall.logo_url != "")))
        rows = list(await session.scalars(select(WallMedia)))
        gone = [
            row
            for row in rows
            if (row.state == "failed" and now - row.fetched_at >= RETRY_FAILED)
            or (
                row.state == "ready"
                and not row.source.startswith(UPLOAD_PREFIX)
                and now - row.fetched_at >= KEEP_FETCHED
            )
            or (
                row.source.startswith(UPLOAD_PREFIX)
                and row.source not in used
                and now - row.fetched_at >= timedelta(days=1)
            )
        ]
        for row in gone:
            await session.delete(row)
    for row in gone:
        _path(data_dir, row.key).unlink(missing_ok=True)
    return len(gone)
