"""Automatic moderation rules. Pure functions over a :class:`Post`, so they are easy to test.

Rule kinds and their ``value``:

* ``min_sentiment`` ``{"score": float}`` — the sentiment score (−1…+1) must be at least this;
  a message without a score passes (scoring is for languages the model knows).
* ``languages`` ``{"codes": ["sv", "en"]}`` — the detected language must be one of these
  (``no`` and ``nb`` count as the same); a message with no detected language is rejected.
* ``blocklist`` ``{"words": ["…"]}`` — rejected when any entry occurs as whole words. Text and
  entries are NFKC-normalised and case-folded and split on Unicode word boundaries, so
  ``Skåne`` never matches ``skån`` and ``fan`` does not match ``fantastisk``; an entry of
  several words matches those words in a row; an entry ending in ``*`` matches words that
  begin with it (for inflected forms such as Finnish ``paska*``).
* ``media_only`` ``{}`` — the message must carry images or video (``media``/``attachments``).
* ``known_authors`` ``{"handles": ["…"]}`` — the author must be listed, or have had a post
  approved on this wall before.
* ``min_account_age`` ``{"days": int}`` — the author's account must be this old, where the
  network tells it (``author.created_at`` in the message); unknown ages pass.
* ``banned_author`` ``{"contact_id": int}`` — written by the *ban author* action.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

RULE_KINDS = (
    "min_sentiment",
    "languages",
    "blocklist",
    "media_only",
    "known_authors",
    "min_account_age",
    "banned_author",
)

_WORD = re.compile(r"\w+(?:['’]\w+)*")
_LANGUAGE_ALIASES = {"nb": "no", "nn": "no"}


@dataclass(frozen=True, slots=True)
class Post:
    """What the rules see of a message."""

    text: str
    lang: str | None = None
    sentiment_score: float | None = None
    has_media: bool = False
    contact_id: int | None = None
    author_handle: str = ""
    author_created_at: datetime | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    value: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    """``reason`` is the first failed rule's kind (and the word, for the blocklist), or ``""``."""

    passed: bool
    reason: str = ""


def tokens(text: str) -> list[str]:
    """Words of ``text``, normalised for matching (NFKC, case-folded, soft hyphens removed)."""
    normal = unicodedata.normalize("NFKC", text).replace("\u00ad", "").casefold()
    return _WORD.findall(normal)


def blocked_word(text: str, entries: Iterable[str]) -> str | None:
    """The first blocklist entry that occurs in ``text`` as whole words, or None."""
    words = tokens(text)
    for entry in entries:
        wanted = tokens(entry.rstrip("*"))
        if not wanted:
            continue
        prefix = entry.strip().endswith("*")
        span = len(wanted)
        for start in range(len(words) - span + 1):
            window = words[start : start + span]
            if window[:-1] != wanted[:-1]:
                continue
            last = window[-1]
            if last == wanted[-1] or (prefix and last.startswith(wanted[-1])):
                return entry
    return None


def _language(code: str | None) -> str | None:
    if not code:
        return None
    base = code.lower().split("-")[0]
    return _LANGUAGE_ALIASES.get(base, base)


def check(
    post: Post, rules: Sequence[Rule], *, approved_authors: frozenset[int] = frozenset()
) -> Verdict:
    """Apply every rule; the first that fails decides. ``approved_authors`` are the contact
    ids with a post approved on this wall before (for ``known_authors``)."""
    for rule in rules:
        value = rule.value
        if rule.kind == "banned_author":
            if post.contact_id is not None and post.contact_id == value.get("contact_id"):
                return Verdict(False, "banned_author")
        elif rule.kind == "min_sentiment":
            if post.sentiment_score is not None and post.sentiment_score < float(
                value.get("score", -1.0)
            ):
                return Verdict(False, "min_sentiment")
        elif rule.kind == "languages":
            allowed = {_language(c) for c in value.get("codes", [])}
            if _language(post.lang) not in allowed:
                return Verdict(False, "languages")
        elif rule.kind == "blocklist":
            word = blocked_word(post.text, value.get("words", []))
            if word is not None:
                return Verdict(False, f"blocklist: {word}")
        elif rule.kind == "media_only":
            if not post.has_media:
                return Verdict(False, "media_only")
        elif rule.kind == "known_authors":
            handles = {h.lstrip("@").casefold() for h in value.get("handles", [])}
            known = post.author_handle.lstrip("@").casefold() in handles or (
                post.contact_id is not None and post.contact_id in approved_authors
            )
            if not known:
                return Verdict(False, "known_authors")
        elif rule.kind == "min_account_age":
            if post.author_created_at is not None and post.created_at is not None:
                age = post.created_at - post.author_created_at
                if age < timedelta(days=int(value.get("days", 0))):
                    return Verdict(False, "min_account_age")
        else:
            raise ValueError(f"unknown wall rule {rule.kind!r}")
    return Verdict(True)
