"""X API v2 tweets as normalised messages.

A raw item is one tweet as the API returns it with its author, shaped like a single-tweet
lookup: ``{"data": {tweet}, "includes": {"users": [author]}, "addressed": bool}``. The
external id is the tweet id; ``in_reply_to`` the id of the ``replied_to`` referenced tweet.
``created_at`` comes from the tweet, else from its id (a Snowflake carries its millisecond
timestamp), so a response without ``tweet.fields=created_at`` still orders correctly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from allsang.ingest.message import InvalidMessage, NormalisedMessage, validate_message

NETWORK = "x"
TWITTER_EPOCH_MS = 1288834974657


def snowflake_time(tweet_id: str) -> datetime:
    return datetime.fromtimestamp(((int(tweet_id) >> 22) + TWITTER_EPOCH_MS) / 1000, tz=UTC)


def normalise_payload(payload: Any, *, own_user_id: str = "") -> NormalisedMessage:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("data"), Mapping):
        raise InvalidMessage("expected {'data': tweet, 'includes': …}")
    tweet = payload["data"]
    tweet_id = str(tweet.get("id") or "")
    if not tweet_id.isdigit():
        raise InvalidMessage(f"tweet without a numeric id: {tweet_id!r}")
    author_id = str(tweet.get("author_id") or "")
    if not author_id:
        raise InvalidMessage("tweet without author_id (request expansions=author_id)")
    users = (payload.get("includes") or {}).get("users") or []
    user = next((u for u in users if isinstance(u, Mapping) and u.get("id") == author_id), {})
    username = str(user.get("username") or "")
    parent = next(
        (
            str(r.get("id"))
            for r in tweet.get("referenced_tweets") or []
            if isinstance(r, Mapping) and r.get("type") == "replied_to"
        ),
        None,
    )
    lang = tweet.get("lang")
    data: dict[str, Any] = {
        "channel": NETWORK,
        "external_id": tweet_id,
        "url": f"https://x.com/{username or 'i/web'}/status/{tweet_id}",
        "kind": "reply" if parent else "post",
        "author": {
            "handle": username or author_id,
            "name": str(user.get("name") or ""),
            "url": f"https://x.com/{username}" if username else "",
            "id": author_id,
        },
        "text": str(tweet.get("text") or ""),
        "created_at": _created_at(tweet.get("created_at"), tweet_id),
        "in_reply_to": parent,
        "lang": lang if isinstance(lang, str) and lang not in ("und", "zxx", "qme") else None,
    }
    if tweet.get("conversation_id"):
        data["conversation"] = str(tweet["conversation_id"])
    if payload.get("addressed"):
        data["addressed"] = True
    if own_user_id and author_id == own_user_id:
        data["direction"] = "outbound"
    return validate_message(data)


def _created_at(value: Any, tweet_id: str) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return snowflake_time(tweet_id)
