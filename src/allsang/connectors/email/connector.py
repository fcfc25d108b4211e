"""The e-mail connector: listen on an IMAP folder, converse by SMTP.

Cursor: ``{"uidvalidity": V, "last_uid": U}``. Each poll fetches the messages with UID above
``U`` in chunks of ``batch_size``, oldest first; a batch's cursor is the largest UID in it. When
the folder's UIDVALIDITY differs from the cursor's (the server renumbered the folder), UIDs
mean nothing any more: the folder is read again from the start and the Message-ID dedupe drops
what is already stored. A new channel starts with the newest ``initial_messages``.

With ``idle`` (the default) and a server that announces IDLE, ``listen`` then waits in IDLE
for new mail and fetches it as it arrives, until cancelled; otherwise it returns after one
poll and the coordinator calls it again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, ClassVar

from allsang.connectors.base import (
    Batch,
    Capability,
    ChannelContext,
    PermanentError,
    RawItem,
    Sent,
)
from allsang.connectors.email.client import (
    DEFAULT_TIMEOUT,
    ImapSettings,
    Mailbox,
    SmtpSettings,
    send,
)
from allsang.connectors.email.normalise import (
    NETWORK,
    header,
    message_ids,
    normalise_payload,
    parse,
    raw_payload,
)
from allsang.ingest.message import InvalidMessage, NormalisedMessage

log = logging.getLogger(__name__)

MAX_MESSAGE = 5 * 1024 * 1024  # bytes of one message that are parsed; the rest is cut off
MAX_IDLE = 29 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes


class EmailConnector:
    network: ClassVar[str] = NETWORK
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.LISTEN, Capability.CONVERSE}
    )

    def __init__(self, context: ChannelContext) -> None:
        config, secrets = context.config, context.credentials
        self.context = context
        timeout = float(config.get("timeout", DEFAULT_TIMEOUT))
        username = str(secrets.get("username") or context.account)
        password = str(secrets.get("password") or "")
        if not config.get("imap_host"):
            raise PermanentError("the e-mail channel has no imap_host configured")
        self.imap = ImapSettings(
            host=str(config["imap_host"]),
            port=int(config.get("imap_port", 993)),
            username=username,
            password=password,
            mailbox=str(config.get("mailbox") or "INBOX"),
            tls=bool(config.get("imap_tls", True)),
            timeout=timeout,
        )
        self.smtp = (
            SmtpSettings(
                host=str(config["smtp_host"]),
                port=int(config.get("smtp_port", 587)),
                username=str(secrets.get("smtp_username") or username),
                password=str(secrets.get("smtp_password") or password),
                tls=str(config.get("smtp_tls", "starttls")),
                timeout=timeout,
            )
            if config.get("smtp_host")
            else None
        )
        self.address = str(config.get("address") or context.account).strip().lower()
        self.idle = bool(config.get("idle", True))
        self.idle_seconds = min(float(config.get("idle_seconds", MAX_IDLE)), MAX_IDLE)
        self.batch_size = max(1, int(config.get("batch_size", 25)))
        self.initial_messages = int(config.get("initial_messages", 100))
        self.max_message = int(config.get("max_message_bytes", MAX_MESSAGE))
        self._seen: dict[str, _Thread] = {}

    # -- listen ---------------------------------------------------------------------------

    async def listen(self, cursor: dict[str, Any]) -> AsyncIterator[Batch]:
        state = dict(cursor or {})
        async with Mailbox(self.imap) as box:
            while True:
                async for batch in self._poll(box, state):
                    yield batch
                if not (self.idle and box.can_idle):
                    return
                await box.idle(self.idle_seconds)

    async def _poll(self, box: Mailbox, state: dict[str, Any]) -> AsyncIterator[Batch]:
        known = state.get("uidvalidity")
        last_uid = int(state.get("last_uid") or 0)
        fresh_start = known is None
        if known is not None and int(known) != box.uidvalidity:
            log.warning(
                "UIDVALIDITY of %s on %s changed from %s to %s: reading the folder again "
                "from the start (stored messages are kept, duplicates dropped by Message-ID)",
                self.imap.mailbox,
                self.imap.host,
                known,
                box.uidvalidity,
            )
            last_uid, fresh_start = 0, False
        uids = await box.uids_after(last_uid)
        if fresh_start and self.initial_messages >= 0:
            uids = uids[-self.initial_messages :] if self.initial_messages else []
        state["uidvalidity"] = box.uidvalidity
        if not uids and known != box.uidvalidity:
            state["last_uid"] = last_uid
            yield Batch([], cursor=dict(state))  # remember the new UIDVALIDITY
        for start in range(0, len(uids), self.batch_size):
            chunk = uids[start : start + self.batch_size]
            fetched = await box.fetch(chunk)
            items = [self._item(f.uid, f.raw, f.internaldate) for f in fetched]
            state["last_uid"] = max(chunk)
            yield Batch(items, cursor=dict(state))

    def _item(self, uid: int, raw: bytes, internaldate: str | None) -> RawItem:
        truncated = len(raw) if len(raw) > self.max_message else None
        if truncated:
            log.warning(
                "message UID %s is %d B; only the first %d B are read",
                uid,
                len(raw),
                self.max_message,
            )
            raw = raw[: self.max_message]
        return RawItem(
            raw_payload(uid, raw, internaldate, truncated_from=truncated),
            source=f"imap:{self.imap.mailbox}:{uid}",
        )

    def normalise(self, raw: RawItem) -> NormalisedMessage | None:
        message = normalise_payload(raw.payload, own_address=self.address)
        extras = message.extras()
        self._seen[message.external_id] = _Thread(
            address=str(extras.get("reply_to") or message.author.handle),
            subject=str(extras.get("title") or ""),
            references=[*extras.get("references", []), message.external_id],
        )
        return message

    # -- converse -------------------------------------------------------------------------

    async def reply(self, in_reply_to: str, text: str) -> Sent:
        """Answer the message with this Message-ID: to its sender, ``Re:`` its subject, with
        In-Reply-To and References so every mail client threads it."""
        thread = self._seen.get(in_reply_to) or await self._lookup(in_reply_to)
        subject = (
            thread.subject
            if thread.subject.lower().startswith("re:")
            else (f"Re: {thread.subject}" if thread.subject else "Re:")
        )
        message = self._compose(thread.address, subject, text)
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = " ".join(f"<{r}>" for r in thread.references[-20:])
        return await self._send(message)

    async def direct_message(self, handle: str, text: str) -> Sent:
        """A new e-mail to ``handle`` (an address), subject from ``config["subject"]``."""
        subject = str(self.context.config.get("subject") or f"Message from {self.address}")
        return await self._send(self._compose(handle, subject, text))

    def _compose(self, to: str, subject: str, text: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.address
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        domain = self.address.rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(domain=domain)
        message.set_content(text)
        return message

    async def _send(self, message: EmailMessage) -> Sent:
        if self.smtp is None:
            raise PermanentError("the e-mail channel has no smtp_host configured")
        await send(self.smtp, message)
        return Sent(
            external_id=message_ids(str(message["Message-ID"]))[0], created_at=datetime.now(UTC)
        )

    async def _lookup(self, message_id: str) -> _Thread:
        """The message to answer, found in the folder by its Message-ID header (after a
        restart the connector has not seen it in this process). IMAP matches substrings, so
        the candidates are checked for the exact id."""
        async with Mailbox(self.imap) as box:
            fetched = await box.fetch(await box.search_header("Message-ID", message_id))
        for candidate in reversed(fetched):
            original = parse(candidate.raw)
            if message_id not in message_ids(header(original, "Message-ID")):
                continue
            try:
                found = normalise_payload(raw_payload(candidate.uid, candidate.raw))
            except InvalidMessage as exc:
                raise PermanentError(f"the message to answer cannot be read: {exc.reason}") from exc
            extras = found.extras()
            return _Thread(
                address=str(extras.get("reply_to") or found.author.handle),
                subject=str(extras.get("title") or ""),
                references=[*extras.get("references", []), found.external_id],
            )
        raise PermanentError(f"the message to answer is not in the mailbox: {message_id}")


class _Thread:
    """What a reply needs from the message it answers."""

    __slots__ = ("address", "references", "subject")

    def __init__(self, *, address: str, subject: str, references: list[str]) -> None:
        self.address, self.subject, self.references = address, subject, references
