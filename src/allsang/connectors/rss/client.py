"""Fetching a feed: conditional GET over httpx, with a size limit, then feedparser.

Contract of :func:`fetch_feed`:

* Sends ``If-None-Match`` / ``If-Modified-Since`` from the previous response; a ``304`` returns
  ``None`` (nothing new).
* Streams the body and stops reading past ``max_bytes`` (:class:`PermanentError`: the feed
  is too large to take, which no retry fixes until the publisher shrinks it).
* Maps failures to the typed errors: 429 → :class:`RateLimited`, 5xx, 408 and network errors
  → :class:`TransientError`, 401/403 → :class:`AuthExpired` when the channel has credentials
  (else :class:`PermanentError`), any other 4xx → :class:`PermanentError`.
* Parses with feedparser, passing the response headers so that the charset of the
  ``Content-Type`` header and the base URL are honoured. A document with ``bozo`` set still
  yields whatever entries could be parsed; one from which nothing at all could be parsed
  raises (:class:`PermanentError` for an HTML page, :class:`TransientError` otherwise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import feedparser
import httpx

from allsang.connectors.base import AuthExpired, PermanentError, RateLimited, TransientError
from allsang.connectors.common import retry_after

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
USER_AGENT = "Allsang feed reader (+https://github.com/allsang)"
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_PASSED_HEADERS = ("content-type", "content-location", "content-language", "etag", "last-modified")


@dataclass(slots=True)
class FetchedFeed:
    parsed: Any  # feedparser.FeedParserDict
    url: str
    etag: str | None
    modified: str | None
    warnings: list[str] = field(default_factory=list)


async def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    modified: str | None = None,
    auth: tuple[str, str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    request_timeout: float = DEFAULT_TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchedFeed | None:
    """Fetch and parse the feed at ``url``; ``None`` when it has not changed."""
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified
    try:
        async with (
            httpx.AsyncClient(
                timeout=request_timeout, follow_redirects=True, transport=transport, auth=auth
            ) as http,
            http.stream("GET", url, headers=headers) as response,
        ):
            status = response.status_code
            if status == 304:
                return None
            if status == 429:
                wait = retry_after(response.headers)
                raise RateLimited(f"{url} asks to slow down (HTTP 429)", wait)
            if status >= 500 or status == 408:
                raise TransientError(f"{url} failed (HTTP {status})")
            if status in (401, 403):
                error = AuthExpired if auth else PermanentError
                raise error(f"{url} refuses access (HTTP {status})")
            if status >= 400:
                raise PermanentError(f"{url} cannot be fetched (HTTP {status})")
            body = await _read_limited(response, max_bytes, url)
            final_url = str(response.url)
            passed = {k: response.headers[k] for k in _PASSED_HEADERS if k in response.headers}
    except httpx.TimeoutException as exc:
        raise TransientError(f"{url} timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise TransientError(f"{url} unreachable: {exc or type(exc).__name__}") from exc

    passed.setdefault("content-location", final_url)
    warnings: list[str] = []
    body, repaired = _repair_utf8(body, passed.get("content-type", ""))
    if repaired:
        warnings.append("invalid UTF-8 bytes replaced with U+FFFD")
    parsed = feedparser.parse(body, response_headers=passed, sanitize_html=True)
    if parsed.get("bozo"):
        reason = f"{type(parsed.get('bozo_exception')).__name__}: {parsed.get('bozo_exception')}"
        if not parsed.entries and not parsed.get("version"):
            if "html" in passed.get("content-type", "") and "xml" not in passed["content-type"]:
                raise PermanentError(f"{url} serves a web page, not a feed ({reason})")
            raise TransientError(f"{url} could not be parsed as a feed ({reason})")
        warnings.append(f"malformed feed, kept what could be parsed ({reason})")
    return FetchedFeed(
        parsed=parsed,
        url=final_url,
        etag=response.headers.get("etag"),
        modified=response.headers.get("last-modified"),
        warnings=warnings,
    )


_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([\w.:-]+)", re.IGNORECASE)


def _repair_utf8(body: bytes, content_type: str) -> tuple[bytes, bool]:
    """A body *declared* UTF-8 (by the header, else the XML declaration) with invalid bytes
    gets them replaced, so one bad byte costs one character. Left alone, feedparser would
    fall back to windows-1252 for the whole document and garble every non-ASCII letter."""
    match = _HEADER_CHARSET.search(content_type) or _XML_ENCODING.match(body[:512])
    if match is None:
        return body, False
    declared = match.group(1)
    charset = declared.decode("ascii", "replace") if isinstance(declared, bytes) else declared
    if charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return body, False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("utf-8", errors="replace").encode("utf-8"), True
    return body, False


async def _read_limited(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PermanentError(f"{url} is larger than {max_bytes} bytes ({declared} declared)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise PermanentError(f"{url} is larger than {max_bytes} bytes; stopped reading")
        chunks.append(chunk)
    return b"".join(chunks)
