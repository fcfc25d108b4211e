"""E-mails (RFC 5322 bytes) as normalised messages.

A raw item's payload is ``{"uid": int, "internaldate": str | None, "message": str,
"truncated_from": int | None}``: the message bytes decoded with ``surrogateescape`` (so they
survive JSON and the quarantine, and :func:`message_bytes` restores them exactly).

The external id is the Message-ID without angle brackets (a hash of the bytes when a message
has none); ``in_reply_to`` is the first id in In-Reply-To; the ``references`` extra lists the
References ids oldest first, which the pipeline uses to thread a reply whose direct parent it
never saw. Broken headers never crash: a bad Date (or one more than a day ahead) falls back to
INTERNALDATE and then to the time of reading; a body in an unknown charset is read as UTF-8,
else as Windows-1252.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

import nh3

from allsang.ingest.message import MAX_TEXT, InvalidMessage, NormalisedMessage, validate_message

NETWORK = "email"
_IDS = re.compile(r"<([^<>\s]+)>")
_SPACES = re.compile(r"[ \t]+")
_BREAKS = re.compile(r"\n{3,}")
_BLOCKS = re.compile(r"</?(?:p|div|br|li|tr|h[1-6]|blockquote|pre|table)\b[^>]*>", re.IGNORECASE)


def raw_payload(
    uid: int, raw: bytes, internaldate: str | None = None, *, truncated_from: int | None = None
) -> dict[str, Any]:
    return {
        "uid": uid,
        "internaldate": internaldate,
        "message": raw.decode("utf-8", errors="surrogateescape"),
        "truncated_from": truncated_from,
    }


def message_bytes(payload: Mapping[str, Any]) -> bytes:
    text = payload.get("message")
    if not isinstance(text, str):
        raise InvalidMessage("e-mail payload without its message")
    return text.encode("utf-8", errors="surrogateescape")


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def message_ids(value: str) -> list[str]:
    """The ids in a Message-ID, In-Reply-To or References header, in order, without brackets;
    a bare id without brackets (seen in the wild) counts as one."""
    found = _IDS.findall(value or "")
    if not found and value and value.strip() and " " not in value.strip():
        found = [value.strip().strip("<>")]
    return found


def header(message: Message, name: str) -> str:
    """A header as text, or ``""`` when it is missing or cannot be parsed."""
    try:
        value = message.get(name)
    except Exception:  # the header parser raises assorted errors on broken input
        value = None
    if value is None:
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
        return str(raw or "")
    return str(value)


def normalise_payload(payload: Any, *, own_address: str = "") -> NormalisedMessage:
    if not isinstance(payload, Mapping):
        raise InvalidMessage(f"expected an e-mail payload object, got {type(payload).__name__}")
    raw = message_bytes(payload)
    if not raw.strip():
        raise InvalidMessage("empty message")
    message = parse(raw)
    ids = message_ids(header(message, "Message-ID"))
    external_id = ids[0] if ids else "sha256:" + hashlib.sha256(raw).hexdigest()
    address, name = _sender(message, "From", "Sender")
    if not address:
        raise InvalidMessage("message has no From address")
    in_reply_to = (message_ids(header(message, "In-Reply-To")) or [None])[0]
    references = message_ids(header(message, "References"))
    subject = _SPACES.sub(" ", header(message, "Subject")).strip()
    data: dict[str, Any] = {
        "channel": NETWORK,
        "external_id": external_id[:512],
        "kind": "email",
        "author": {"handle": address, "name": name},
        "text": body_text(message)[:MAX_TEXT],
        "created_at": _date(message, payload.get("internaldate")),
        "in_reply_to": in_reply_to[:512] if in_reply_to else None,
        "title": subject,
        "references": [r[:512] for r in references],
    }
    reply_to, _ = _sender(message, "Reply-To")
    if reply_to and reply_to != address:
        data["reply_to"] = reply_to
    if payload.get("truncated_from"):
        data["truncated_from"] = int(payload["truncated_from"])
    if own_address and address == own_address.lower():
        data["direction"] = "outbound"
    return validate_message(data)


def _sender(message: Message, *names: str) -> tuple[str, str]:
    """The first address (lower-cased) and display name in the first present header."""
    value = next((v for v in (header(message, n) for n in names) if v), "")
    try:
        addresses = getaddresses([value])
    except Exception:
        addresses = []
    for name, address in addresses:
        if "@" in address:
            return address.strip().lower()[:320], name.strip()[:320]
    return "", ""


def body_text(message: EmailMessage) -> str:
    """The text/plain body, else the HTML body as text, else ``""``."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None:
        return ""
    text = _content(part)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return text.replace("\r\n", "\n").strip()


def _content(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeError, ValueError, AssertionError, AttributeError):
        pass  # unknown charset, bad transfer encoding: decode by hand below
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        try:
            return data.decode(part.get_content_charset() or "utf-8")
        except (LookupError, UnicodeDecodeError):
            pass
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            # Undeclared or unknown 8-bit text from Nordic senders is nearly always Windows-1252.
            return data.decode("cp1252", errors="replace")
    return str(part.get_payload() or "")


def html_to_text(markup: str) -> str:
    """Text of an HTML body: sanitised by nh3 first, block tags become line breaks."""
    safe = nh3.clean(
        markup,
        tags={"p", "div", "br", "li", "tr", "blockquote", "pre", "table"},
        attributes={},
        strip_comments=True,
    )
    text = _SPACES.sub(" ", safe.replace("\r", "").replace("\n", " "))
    text = html.unescape(_BLOCKS.sub("\n", text)).replace("\xa0", " ")
    return _BREAKS.sub("\n\n", "\n".join(line.strip() for line in text.split("\n"))).strip()


def _date(message: Message, internaldate: Any) -> datetime:
    value = header(message, "Date")
    try:
        parsed = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is not None:
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        # A date far in the future (a sender's broken clock) would pin the message to the
        # top of every list, so it counts as unreadable.
        if parsed.year >= 1970 and parsed <= datetime.now(UTC) + timedelta(days=1):
            return parsed
    if isinstance(internaldate, str):
        try:
            return datetime.strptime(internaldate, "%d-%b-%Y %H:%M:%S %z")
        except ValueError:
            pass
    return datetime.now(UTC)
