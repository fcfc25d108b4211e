"""Feed entries → :class:`NormalisedMessage` (``kind="article"``).

A raw item is the JSON object that :func:`raw_entry` builds from one feedparser entry:
``{"feed": {title, link, language}, "entry": {…feedparser's entry, dates as ISO strings…},
"feed_url": …, "fetched_at": ISO}``. Everything that decides the message is derived here, so a
quarantined entry can be normalised again after a fix.

* ``external_id``: the entry's id/guid, else its link, else ``sha256:`` of title, date and
  summary.
* ``author``: handle = the feed's host (one contact per feed), name = the entry's author or
  the feed's title, url = the feed's link.
* ``text``: the title, a blank line, then the content (or summary) as plain text.
* ``created_at``: published, else updated, else the time of the fetch (``date_from`` says
  which).
* ``lang``: the primary subtag of the entry's or the feed's language (``sv-SE`` → ``sv``).
"""

from __future__ import annotations

import calendar
import hashlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from allsang.connectors.common import html_to_text
from allsang.ingest.message import MAX_TEXT, InvalidMessage, NormalisedMessage, validate_message

NETWORK = "rss"
FEED_FIELDS = ("title", "link", "language", "author")


def _jsonable(value: Any) -> Any:
    if isinstance(value, time.struct_time):
        return datetime.fromtimestamp(calendar.timegm(value), UTC).isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def raw_entry(
    entry: Mapping[str, Any], feed: Mapping[str, Any], *, feed_url: str, fetched_at: datetime
) -> dict[str, Any]:
    """The raw item for one entry: plain JSON, so quarantine can keep it verbatim."""
    return {
        "feed": {k: _jsonable(feed[k]) for k in FEED_FIELDS if feed.get(k)},
        "entry": _jsonable(entry),
        "feed_url": feed_url,
        "fetched_at": fetched_at.isoformat(),
    }


def entry_guid(entry: Mapping[str, Any]) -> str:
    """The entry's identity: id/guid, else link, else a hash of title, date and text."""
    for key in ("id", "link"):
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:512]
    parts = [
        str(entry.get("title") or ""),
        str(entry.get("published") or entry.get("updated") or ""),
        str(entry.get("summary") or ""),
    ]
    if not any(parts):
        raise InvalidMessage("entry has no id, link, title, date or text to identify it")
    return "sha256:" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def entry_date(entry: Mapping[str, Any]) -> str | None:
    """ISO date of the entry (published, else updated), if the feed gave a parseable one."""
    for key in ("published_parsed", "updated_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            return _jsonable(value)
        if isinstance(value, str) and value:
            return value
    return None


def normalise_payload(payload: Any) -> NormalisedMessage:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("entry"), Mapping):
        raise InvalidMessage("expected a feed entry object")
    entry: Mapping[str, Any] = payload["entry"]
    feed: Mapping[str, Any] = payload.get("feed") or {}
    feed_url = str(payload.get("feed_url") or "")

    title = _plain(entry.get("title_detail"), entry.get("title"))
    body = _body(entry)
    text = "\n\n".join(part for part in (title, body) if part)
    extra: dict[str, Any] = {"title": title, "feed_title": str(feed.get("title") or "")}
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
        extra["truncated"] = True

    created = entry_date(entry)
    if created is None:
        created = str(payload.get("fetched_at") or "")
        extra["date_from"] = "fetched"
    else:
        extra["date_from"] = "published" if entry.get("published_parsed") else "updated"

    feed_link = str(feed.get("link") or "")
    host = urlsplit(feed_link).hostname or urlsplit(feed_url).hostname or ""
    author_name = str(entry.get("author") or feed.get("title") or host)
    media = [
        {"url": str(link.get("href") or ""), "type": str(link.get("type") or "")}
        for link in entry.get("links") or []
        if isinstance(link, Mapping) and link.get("rel") == "enclosure" and link.get("href")
    ]
    if media:
        extra["media"] = media
    tags = [str(t.get("term")) for t in entry.get("tags") or [] if isinstance(t, Mapping)]
    if tags:
        extra["tags"] = [t for t in tags if t and t != "None"]

    language = str(entry.get("language") or feed.get("language") or "").strip()
    return validate_message(
        {
            "channel": NETWORK,
            "external_id": entry_guid(entry),
            "url": str(entry.get("link") or ""),
            "kind": "article",
            "author": {
                "handle": host or author_name or "feed",
                "name": author_name[:320],
                "url": feed_link or feed_url,
            },
            "text": text,
            "created_at": created,
            "in_reply_to": None,
            "lang": language.split("-")[0].split("_")[0].lower()[:8] or None,
            **extra,
        }
    )


def _plain(detail: Any, value: Any) -> str:
    """Text of a feedparser text construct: plain stays plain, (x)html loses its markup."""
    text = str(value or "")
    kind = detail.get("type") if isinstance(detail, Mapping) else "text/html"
    if kind == "text/plain":
        return text.strip()
    return html_to_text(text)


def _body(entry: Mapping[str, Any]) -> str:
    """The full content when the feed has it (``content:encoded``, Atom ``content``), else the
    summary; of several contents the longest."""
    candidates = [
        c for c in entry.get("content") or [] if isinstance(c, Mapping) and c.get("value")
    ]
    if candidates:
        best = max(candidates, key=lambda c: len(str(c["value"])))
        return _plain(best, best["value"])
    return _plain(entry.get("summary_detail"), entry.get("summary"))
