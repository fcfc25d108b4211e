"""Mastodon statuses and notifications → :class:`NormalisedMessage`.

Mapping (documented in ``docs/connectors/mastodon.md``):

* A ``mention`` notification yields its status with ``addressed=True``; every other
  notification type (favourite, follow, reblog, poll …) is not a message (``None``).
* A status with ``visibility == "direct"`` is a ``dm``; one with ``in_reply_to_id`` a
  ``reply``; anything else a ``post``.
* A reblog (boost) counts as the status it boosts: the boosted status is normalised, and
  ``boosted_by`` records who boosted it, so a boost of a stored post is a duplicate.
* Author handles are ``@user@host``; a local account (``acct`` without a host) is qualified
  with the connected instance's host.
* ``direction`` is ``outbound`` when the author is the connected account.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from allsang.connectors.common import html_to_text
from allsang.ingest.message import InvalidMessage, NormalisedMessage, validate_message

NETWORK = "mastodon"


def qualified_handle(acct: str, instance_host: str) -> str:
    """``@acct@host`` for any account as the API spells it (``user`` or ``user@host``)."""
    acct = acct.strip().lstrip("@")
    if not acct:
        raise InvalidMessage("account has no acct")
    if "@" not in acct:
        acct = f"{acct}@{instance_host}"
    return f"@{acct}"


def is_notification(payload: Mapping[str, Any]) -> bool:
    return "type" in payload and "content" not in payload


def normalise_payload(
    payload: Any, *, instance_host: str, own_handle: str = ""
) -> NormalisedMessage | None:
    """Normalise one decoded notification or status, or raise :class:`InvalidMessage`."""
    if not isinstance(payload, Mapping):
        raise InvalidMessage(f"expected a JSON object, got {type(payload).__name__}")
    addressed = False
    extra: dict[str, Any] = {}
    if is_notification(payload):
        if payload.get("type") != "mention":
            return None
        status = payload.get("status")
        if not isinstance(status, Mapping):
            raise InvalidMessage("mention notification without a status")
        addressed = True
        extra["notification_id"] = str(payload.get("id", ""))
    else:
        status = payload
    if isinstance(status.get("reblog"), Mapping):
        booster = status.get("account")
        if isinstance(booster, Mapping) and booster.get("acct"):
            extra["boosted_by"] = qualified_handle(str(booster["acct"]), instance_host)
        status = status["reblog"]
    return _status(status, instance_host, own_handle, addressed, extra)


def _status(
    status: Mapping[str, Any],
    instance_host: str,
    own_handle: str,
    addressed: bool,
    extra: dict[str, Any],
) -> NormalisedMessage:
    account = status.get("account")
    if not isinstance(account, Mapping):
        raise InvalidMessage("status has no account")
    handle = qualified_handle(str(account.get("acct") or ""), instance_host)
    if status.get("id") in (None, ""):
        raise InvalidMessage("status has no id")

    in_reply_to = status.get("in_reply_to_id")
    visibility = str(status.get("visibility") or "public")
    if visibility == "direct":
        kind = "dm"
    elif in_reply_to:
        kind = "reply"
    else:
        kind = "post"

    body = html_to_text(str(status.get("content") or ""))
    warning = str(status.get("spoiler_text") or "").strip()
    text = f"{warning}\n\n{body}" if warning and body else (warning or body)

    extra.update(
        visibility=visibility,
        media=[_media(m) for m in status.get("media_attachments") or [] if isinstance(m, Mapping)],
        tags=[str(t.get("name")) for t in status.get("tags") or [] if isinstance(t, Mapping)],
    )
    if warning:
        extra["content_warning"] = warning
    if addressed:
        extra["addressed"] = True
    if own_handle and handle.casefold() == own_handle.casefold():
        extra["direction"] = "outbound"

    return validate_message(
        {
            "channel": NETWORK,
            "external_id": str(status["id"]),
            "url": str(status.get("url") or status.get("uri") or ""),
            "kind": kind,
            "author": {
                "handle": handle,
                "name": str(account.get("display_name") or account.get("username") or ""),
                "url": str(account.get("url") or ""),
            },
            "text": text,
            "created_at": _timestamp(status.get("created_at")),
            "in_reply_to": str(in_reply_to) if in_reply_to else None,
            "lang": status.get("language") or None,
            **extra,
        }
    )


def _media(attachment: Mapping[str, Any]) -> dict[str, str]:
    return {
        "url": str(attachment.get("url") or attachment.get("remote_url") or ""),
        "alt": str(attachment.get("description") or ""),
        "type": str(attachment.get("type") or "unknown"),
    }


def _timestamp(value: Any) -> Any:
    # Mastodon.py hands out datetimes; the raw API and the stream hand out ISO strings.
    if isinstance(value, datetime):
        return value.isoformat()
    if value in (None, ""):
        raise InvalidMessage("status has no created_at")
    return value
