"""Bluesky payloads as normalised messages.

Three shapes reach :func:`normalise_payload`, told apart by their keys:

* a **Jetstream event** (``{"did", "time_us", "kind", "commit"?}``): only ``commit`` events that
  *create* an ``app.bsky.feed.post`` are messages; likes, reposts, follows, updates, deletes and
  ``identity``/``account`` events give ``None``. Deletes are not applied: the pipeline keeps
  what it stored, as an archive of what was said.
* a **notification** from ``app.bsky.notification.listNotifications`` (``{"reason", "record",
  "author", …}``): ``mention``, ``reply`` and ``quote`` are messages addressed to the account
  (``addressed=True``); every other reason (like, follow, repost…) gives ``None``.
* a **post view** from ``searchPosts``/``getPosts`` (``{"uri", "record", "author", …}``).
* a **chat message** (``{"convo": {"id", "members"}, "message": <messageView>}``): the
  connector pairs each ``chat.bsky.convo`` message with its conversation, whose members give
  the sender's handle. It is a ``dm`` (threaded per contact by the pipeline); a deleted
  message and the account's own messages give ``None`` (what the inbox sends is stored when
  it is sent; a DM thread's contact is the other person, never the account).

The external id is the post's ``at://<did>/app.bsky.feed.post/<rkey>`` URI in every post shape,
so a post seen in the stream and again in a search is stored once; a chat message's is its id
(what ``sendMessage`` answered, so a message sent from the inbox is not stored twice).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from allsang.connectors.base import RawItem
from allsang.ingest.message import InvalidMessage, NormalisedMessage, validate_message

NETWORK = "bluesky"
POST_COLLECTION = "app.bsky.feed.post"
ADDRESSED_REASONS = frozenset({"mention", "reply", "quote"})
CHAT_MESSAGE = "chat.bsky.convo.defs#messageView"


def post_uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def split_uri(uri: str) -> tuple[str, str, str]:
    """``(did, collection, rkey)`` of an ``at://`` URI, or InvalidMessage."""
    parts = uri.removeprefix("at://").split("/") if uri.startswith("at://") else []
    if len(parts) != 3 or not all(parts):
        raise InvalidMessage(f"not an at:// record URI: {uri!r}")
    return parts[0], parts[1], parts[2]


def web_url(uri: str) -> str:
    did, _, rkey = split_uri(uri)
    return f"https://bsky.app/profile/{did}/post/{rkey}"


def decode_frame(frame: str | bytes) -> Any:
    """One Jetstream frame as JSON, or InvalidMessage (bad UTF-8, bad JSON)."""
    try:
        text = frame.decode("utf-8") if isinstance(frame, bytes) else frame
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise InvalidMessage(f"frame is not valid UTF-8: {exc}") from None
    except ValueError as exc:
        raise InvalidMessage(f"frame is not valid JSON: {exc}") from None


def normalise_payload(
    payload: Any, *, handles: Mapping[str, str] | None = None, own_did: str = ""
) -> NormalisedMessage | None:
    """The message in one Bluesky payload, ``None`` for non-messages, or InvalidMessage.

    ``handles`` maps DIDs to handles where they are known (Jetstream events carry only the
    DID); ``own_did`` marks the account's own posts as outbound.
    """
    if isinstance(payload, str | bytes):
        payload = decode_frame(payload)
    if not isinstance(payload, Mapping):
        raise InvalidMessage(f"expected a JSON object, got {type(payload).__name__}")
    if "time_us" in payload and "kind" in payload:
        return _jetstream(payload, handles or {}, own_did)
    if "reason" in payload:
        if payload.get("reason") not in ADDRESSED_REASONS:
            return None
        return _view(payload, own_did, addressed=True)
    if "record" in payload and "uri" in payload:
        return _view(payload, own_did, addressed=False)
    if "message" in payload and "convo" in payload:
        return _chat(payload, own_did)
    raise InvalidMessage("not a Jetstream event, notification, post view or chat message")


def chat_url(convo_id: str) -> str:
    return f"https://bsky.app/messages/{convo_id}"


def _chat(item: Mapping[str, Any], own_did: str) -> NormalisedMessage | None:
    message, convo = item.get("message"), item.get("convo")
    if not isinstance(message, Mapping) or not isinstance(convo, Mapping):
        raise InvalidMessage("chat message without a message or a conversation object")
    if message.get("$type", CHAT_MESSAGE) != CHAT_MESSAGE:
        return None  # deletedMessageView and types this code does not know
    sender = message.get("sender")
    did = str(sender.get("did") or "") if isinstance(sender, Mapping) else ""
    message_id, convo_id = str(message.get("id") or ""), str(convo.get("id") or "")
    if not did or not message_id or not convo_id:
        raise InvalidMessage("chat message without a sender, an id or a conversation id")
    if own_did and did == own_did:
        return None
    members = convo.get("members")
    listed = members if isinstance(members, list) else []
    member = next((m for m in listed if isinstance(m, Mapping) and m.get("did") == did), {})
    return validate_message(
        {
            "channel": NETWORK,
            "external_id": message_id,
            "url": chat_url(convo_id),
            "kind": "dm",
            "author": {
                "handle": str(member.get("handle") or did),
                "name": str(member.get("displayName") or "").strip(),
                "did": did,
                "url": _profile(did),
            },
            "text": str(message.get("text") or ""),
            "created_at": _created_at(message.get("sentAt")),
            "in_reply_to": None,
            "convo_id": convo_id,
        }
    )


def _jetstream(
    event: Mapping[str, Any], handles: Mapping[str, str], own_did: str
) -> NormalisedMessage | None:
    if event.get("kind") != "commit":
        return None
    commit = event.get("commit")
    if not isinstance(commit, Mapping):
        raise InvalidMessage("commit event without a commit object")
    if commit.get("operation") != "create" or commit.get("collection") != POST_COLLECTION:
        return None
    did, rkey = str(event.get("did") or ""), str(commit.get("rkey") or "")
    if not did or not rkey:
        raise InvalidMessage("post commit without did or rkey")
    record = commit.get("record")
    if not isinstance(record, Mapping):
        raise InvalidMessage("post commit without a record")
    author = {"handle": handles.get(did) or did, "did": did, "url": _profile(did)}
    return _message(post_uri(did, rkey), record, author, own_did=own_did, addressed=False)


def _view(view: Mapping[str, Any], own_did: str, *, addressed: bool) -> NormalisedMessage:
    uri = str(view.get("uri") or "")
    record = view.get("record")
    author = view.get("author")
    if not isinstance(record, Mapping) or not isinstance(author, Mapping):
        raise InvalidMessage("post view without a record or an author")
    did = str(author.get("did") or split_uri(uri)[0])
    who = {
        "handle": str(author.get("handle") or did),
        "name": str(author.get("displayName") or "").strip(),
        "did": did,
        "url": _profile(did),
    }
    extra = {"reason": view["reason"]} if "reason" in view else {}
    return _message(uri, record, who, own_did=own_did, addressed=addressed, **extra)


def _message(
    uri: str,
    record: Mapping[str, Any],
    author: dict[str, str],
    *,
    own_did: str,
    addressed: bool,
    **extra: Any,
) -> NormalisedMessage:
    reply = record.get("reply")
    parent = reply.get("parent") if isinstance(reply, Mapping) else None
    in_reply_to = str(parent.get("uri")) if isinstance(parent, Mapping) else None
    langs = record.get("langs")
    data: dict[str, Any] = {
        "channel": NETWORK,
        "external_id": uri,
        "url": web_url(uri),
        "kind": "reply" if in_reply_to else "post",
        "author": author,
        "text": str(record.get("text") or ""),
        "created_at": _created_at(record.get("createdAt")),
        "in_reply_to": in_reply_to,
        "lang": str(langs[0])[:8] if isinstance(langs, list) and langs else None,
        **extra,
    }
    if addressed:
        data["addressed"] = True
    if own_did and author.get("did") == own_did:
        data["direction"] = "outbound"
    return validate_message(data)


def _profile(did: str) -> str:
    return f"https://bsky.app/profile/{did}"


def _created_at(value: Any) -> datetime:
    """The record's ``createdAt`` (a chat message's ``sentAt``); an item without a readable one
    is quarantined, since the time is what orders a conversation."""
    if not isinstance(value, str):
        raise InvalidMessage("record has no createdAt")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidMessage(f"record createdAt is not ISO-8601: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def normalise_item(
    raw: RawItem, *, handles: Mapping[str, str] | None = None, own_did: str = ""
) -> NormalisedMessage | None:
    return normalise_payload(raw.payload, handles=handles, own_did=own_did)
