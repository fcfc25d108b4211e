"""Helpers shared by the connectors that speak HTTP and receive HTML.

:func:`html_to_text` turns HTML from the networks (Mastodon statuses, feed summaries) into
plain text. The markup is sanitised by nh3 first, so what reaches the regular expressions below is
well-formed, attribute-free HTML; only then are block boundaries turned into line breaks and
entities unescaped. Text of links is kept, the contents of ``script``/``style`` are dropped.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import nh3

DEFAULT_RETRY_AFTER = 60.0

_LINE_TAGS = {"br", "li", "tr", "dt", "dd"}
_BLOCK_TAGS = {
    "p",
    "div",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "dl",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "figure",
    "section",
    "article",
}


def _tag_pattern(names: set[str]) -> re.Pattern[str]:
    return re.compile(r"<\s*/?\s*(?:" + "|".join(sorted(names)) + r")\b[^>]*>", re.IGNORECASE)


_LINE = _tag_pattern(_LINE_TAGS)
_BLOCK = _tag_pattern(_BLOCK_TAGS)
_ANY_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v\n]+")
_AROUND_BREAK = re.compile(r" *\n *")
_MANY_BREAKS = re.compile(r"\n{3,}")


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: line breaks kept, tags gone, entities unescaped."""
    if not markup:
        return ""
    safe = nh3.clean(markup, tags=_LINE_TAGS | _BLOCK_TAGS, attributes={}, strip_comments=True)
    # Source whitespace means nothing in HTML; breaks come from the tags alone.
    text = _SPACES.sub(" ", safe)
    text = _LINE.sub("\n", text)
    text = _BLOCK.sub("\n\n", text)
    text = _ANY_TAG.sub("", text)
    text = html.unescape(text).replace("\xa0", " ")
    text = _AROUND_BREAK.sub("\n", text)
    return _MANY_BREAKS.sub("\n\n", text).strip()


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date) or ``X-RateLimit-Reset``
    (an ISO timestamp or epoch seconds, Mastodon's form); a minute when neither is usable."""
    now = time.time() if now is None else now
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = lowered.get("x-ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            try:
                at = datetime.fromisoformat(reset.replace("Z", "+00:00"))
                if at.tzinfo is None:
                    at = at.replace(tzinfo=UTC)
                return max(0.0, at.timestamp() - now)
            except ValueError:
                pass
    return DEFAULT_RETRY_AFTER
