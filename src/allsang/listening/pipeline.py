"""Enrichment of one message: language, sentiment and (optionally) query matches."""

from __future__ import annotations

from typing import Any

from allsang.listening.langid import detect
from allsang.listening.query import Message, QuerySet
from allsang.listening.sentiment import default_model

MAX_TEXT = 100_000  # characters analysed for language and sentiment; matching sees all


def enrich(obj: dict[str, Any], queries: QuerySet | None = None) -> dict[str, Any]:
    """Add ``lang``, ``lang_confidence``, ``sentiment``, ``sentiment_score`` (and ``matches``
    when ``queries`` is given) to a normalised message; ``obj["text"]`` must be a str.

    A ``lang`` already on the message is replaced: the contract is that these fields are
    the engine's analysis.
    """
    text: str = obj["text"]
    guess = detect(text)
    result = default_model().predict(text[:MAX_TEXT], guess.lang)
    obj["lang"] = guess.lang
    obj["lang_confidence"] = guess.confidence
    obj["sentiment"] = result.label
    obj["sentiment_score"] = result.score
    if queries is not None:
        obj["matches"] = queries.match(_message(obj))
    return obj


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _message(obj: dict[str, Any]) -> Message:
    author = obj.get("author") if isinstance(obj.get("author"), dict) else {}
    return Message(
        text=obj["text"],
        lang=obj.get("lang"),
        sentiment=obj.get("sentiment"),
        author=_str(author.get("handle")),
        author_name=_str(author.get("name")),
        url=_str(obj.get("url")),
        country=_str(obj.get("country")),
        platform=_str(obj.get("platform")) or _str(obj.get("channel")),
        channel=_str(obj.get("channel")),
        title=_str(obj.get("title")),
    )
