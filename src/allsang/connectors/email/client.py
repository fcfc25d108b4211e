"""IMAP in (aioimaplib) and SMTP out (aiosmtplib), with the connector's typed errors.

:class:`Mailbox` is one logged-in IMAP session on one selected folder: its UIDVALIDITY, the
UIDs after a given one, their bytes in chunks, and IDLE where the server announces it. Failures
are raised as :class:`AuthExpired` (the server refused the login) or :class:`TransientError`
(refused connection, timeout, a dropped session, an unexpected answer).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any

import aiosmtplib
from aioimaplib import aioimaplib

from allsang.connectors.base import AuthExpired, PermanentError, TransientError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH = re.compile(rb"^\d+ FETCH \((.*)\{(\d+)\}$")
_UID = re.compile(rb"UID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')


@dataclass(frozen=True, slots=True)
class Fetched:
    uid: int
    raw: bytes
    internaldate: str | None


@dataclass(frozen=True, slots=True)
class ImapSettings:
    host: str
    port: int
    username: str
    password: str
    mailbox: str = "INBOX"
    tls: bool = True
    timeout: float = DEFAULT_TIMEOUT


class Mailbox:
    """``async with Mailbox(settings) as box`` logs in and selects the folder."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.uidvalidity = 0
        self._imap: aioimaplib.IMAP4 | None = None

    async def __aenter__(self) -> Mailbox:
        s = self.settings
        try:
            if s.tls:
                imap = aioimaplib.IMAP4_SSL(
                    host=s.host,
                    port=s.port,
                    timeout=s.timeout,
                    ssl_context=ssl.create_default_context(),
                )
            else:
                imap = aioimaplib.IMAP4(host=s.host, port=s.port, timeout=s.timeout)
            self._imap = imap
            await asyncio.wait_for(imap.wait_hello_from_server(), s.timeout)
            login = await imap.login(s.username, s.password)
        except (OSError, TimeoutError, aioimaplib.Abort) as exc:
            await self._abandon()
            raise TransientError(f"cannot reach the IMAP server {s.host}:{s.port}: {exc}") from exc
        if login.result != "OK":
            await self._abandon()
            raise AuthExpired(f"the IMAP server refused the login: {_text(login.lines)}")
        selected = await self._command(imap.select(s.mailbox), f"SELECT {s.mailbox}")
        match = _UIDVALIDITY.search(b" ".join(bytes(line) for line in selected))
        if match is None:
            raise TransientError(f"the IMAP server sent no UIDVALIDITY for {s.mailbox}")
        self.uidvalidity = int(match.group(1))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._imap is not None:
            # Leaving anyway: a server that does not answer LOGOUT drops the session itself.
            with suppress(OSError, TimeoutError, aioimaplib.Abort, aioimaplib.CommandTimeout):
                await asyncio.wait_for(self._imap.logout(), 2.0)
        await self._abandon()

    async def _abandon(self) -> None:
        if self._imap is not None and self._imap.protocol is not None:
            transport = self._imap.protocol.transport
            if transport is not None:
                transport.close()
        self._imap = None

    @property
    def imap(self) -> aioimaplib.IMAP4:
        if self._imap is None:
            raise TransientError("the IMAP session is closed")
        return self._imap

    async def _command(self, call: Any, what: str) -> list[Any]:
        try:
            response = await asyncio.wait_for(call, self.settings.timeout)
        except (OSError, TimeoutError, aioimaplib.Abort, aioimaplib.CommandTimeout) as exc:
            raise TransientError(f"IMAP {what} failed: {type(exc).__name__}: {exc}") from exc
        if response.result != "OK":
            raise TransientError(f"IMAP {what} answered {response.result}: {_text(response.lines)}")
        return list(response.lines)

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than ``last_uid``, ascending. (``n:*`` also matches the newest message
        when none is above ``n``, so the answer is filtered here.)"""
        lines = await self._command(
            self.imap.uid("fetch", f"{last_uid + 1}:*", "(UID)"), "UID FETCH (UID)"
        )
        found = {int(m.group(1)) for line in lines if (m := _UID.search(bytes(line)))}
        return sorted(uid for uid in found if uid > last_uid)

    async def fetch(self, uids: Sequence[int]) -> list[Fetched]:
        """The full bytes (``BODY.PEEK[]``, so nothing is marked as read) of these messages.
        They are asked for as one UID range (every server parses ``a:b``; some choke on long
        lists) and the answer is filtered to the wanted UIDs."""
        if not uids:
            return []
        wanted = set(uids)
        spec = f"{min(wanted)}:{max(wanted)}"
        lines = await self._command(
            self.imap.uid("fetch", spec, "(UID INTERNALDATE BODY.PEEK[])"), "UID FETCH"
        )
        found: list[Fetched] = []
        for index, line in enumerate(lines):
            match = _FETCH.match(bytes(line)) if isinstance(line, bytes) else None
            if match is None or index + 1 >= len(lines):
                continue
            literal = bytes(lines[index + 1])
            tail = bytes(lines[index + 2]) if index + 2 < len(lines) else b""
            attributes = match.group(1) + b" " + tail
            uid = _UID.search(attributes)
            date = _INTERNALDATE.search(attributes)
            if uid is None or int(uid.group(1)) not in wanted:
                continue
            found.append(
                Fetched(int(uid.group(1)), literal, date.group(1).decode() if date else None)
            )
        return sorted(found, key=lambda f: f.uid)

    async def search_header(self, name: str, value: str) -> list[int]:
        """UIDs of the messages whose header ``name`` contains ``value``, ascending."""
        quoted = '"' + value.replace("\\", "").replace('"', "") + '"'
        lines = await self._command(
            self.imap.uid_search("HEADER", name, quoted, charset=None), "UID SEARCH HEADER"
        )
        found: set[int] = set()
        for line in lines:
            # aioimaplib hands over "* SEARCH 1 2" as b"1 2" (the keyword is stripped).
            words = bytes(line).removeprefix(b"SEARCH").split()
            if words and all(w.isdigit() for w in words):
                found.update(int(w) for w in words)
        return sorted(found)

    @property
    def can_idle(self) -> bool:
        return self.imap.has_capability("IDLE")

    async def idle(self, seconds: float) -> None:
        """Wait in IDLE until the server reports a change or ``seconds`` pass."""
        imap = self.imap
        try:
            idle = await imap.idle_start(timeout=seconds)
            while imap.has_pending_idle():
                pushed = await imap.wait_server_push(timeout=seconds)
                if any(b"EXISTS" in bytes(line) for line in _lines(pushed)):
                    break
            imap.idle_done()
            await asyncio.wait_for(idle, self.settings.timeout)
        except TimeoutError:
            if imap.has_pending_idle():
                imap.idle_done()
        except (OSError, aioimaplib.Abort, aioimaplib.CommandTimeout) as exc:
            raise TransientError(f"IMAP IDLE failed: {exc}") from exc


def _lines(pushed: Any) -> list[Any]:
    if isinstance(pushed, list | tuple):
        return list(pushed)
    return [pushed] if isinstance(pushed, bytes | bytearray) else []


def _text(lines: Sequence[Any]) -> str:
    return " ".join(bytes(line).decode("utf-8", "replace") for line in lines)[:300]


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    username: str
    password: str
    tls: str = "starttls"  # "tls" (implicit, port 465), "starttls" (port 587) or "none"
    timeout: float = DEFAULT_TIMEOUT


async def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Send one message; typed errors as for IMAP, refused recipients are permanent."""
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.host,
            port=settings.port,
            username=settings.username or None,
            password=settings.password or None,
            use_tls=settings.tls == "tls",
            start_tls=settings.tls == "starttls",
            timeout=settings.timeout,
        )
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise AuthExpired(f"the SMTP server refused the login: {exc.message}") from exc
    except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPSenderRefused) as exc:
        raise PermanentError(f"the SMTP server refused the message: {exc}") from exc
    except aiosmtplib.SMTPResponseException as exc:
        if 400 <= exc.code < 500:
            raise TransientError(f"the SMTP server answered {exc.code}: {exc.message}") from exc
        raise PermanentError(f"the SMTP server answered {exc.code}: {exc.message}") from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise TransientError(f"cannot send through {settings.host}:{settings.port}: {exc}") from exc
