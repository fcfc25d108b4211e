"""A local IMAP server (aioimaplib's test server, serving messages' exact bytes, with a fixed
UIDVALIDITY, a password check and ``SEARCH HEADER``) and a local SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import email
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aioimaplib import imap_testing_server as testing
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from allsang.connectors.base import ChannelContext
from allsang.connectors.email import EmailConnector
from allsang.db import Database
from allsang.db.models import Channel, Workspace
from allsang.ingest.pipeline import ChannelRef

USER = "support@acme.example"
PASSWORD = "correct-horse"


class RawMail(testing.Mail):
    """A message served exactly as its bytes (the stock one re-serialises them)."""

    def __init__(self, raw: bytes) -> None:
        super().__init__(email.message_from_bytes(raw))
        self.raw = raw

    def as_bytes(self) -> bytes:
        return self.raw


class Protocol(testing.ImapProtocol):
    server: FakeImap

    def login(self, tag: str, *args: str) -> None:
        if args[1].strip('"') != PASSWORD:
            self.send_tagged_line(tag, "NO [AUTHENTICATIONFAILED] Invalid credentials")
            return
        super().login(tag, *args)

    def search(self, tag: str, *args: str) -> None:
        if [a.upper() for a in args[:2]] != ["UID", "HEADER"]:
            return super().search(tag, *args)
        name, value = args[2], args[3].strip('"')
        uids = [
            str(m.uid)
            for m in self.server_state.get_mailbox_messages(self.user_login, self.user_mailbox)
            if value in str(m.email.get(name, ""))
        ]
        self.send_untagged_line("SEARCH " + " ".join(uids))
        self.send_tagged_line(tag, "OK UID SEARCH completed")


@dataclass
class FakeImap:
    port: int = 0
    uidvalidity: int = 1_700_000_000
    mock: Any = None

    def deliver(self, raw: bytes, mailbox: str = "INBOX") -> int:
        return self.mock.receive(RawMail(raw), imap_user=USER, mailbox=mailbox)[0]

    def renumber(self, messages: list[bytes]) -> None:
        """Empty the folder and fill it again under a new UIDVALIDITY, as a server does
        after a restore or a migration."""
        self.mock._server_state.mailboxes.get(USER, {}).pop("INBOX", None)
        self.uidvalidity += 1
        for raw in messages:
            self.deliver(raw)


@pytest.fixture
async def imap() -> AsyncIterator[FakeImap]:
    loop = asyncio.get_running_loop()
    fake = FakeImap(mock=testing.MockImapServer(loop=loop))

    def protocol() -> Protocol:
        made = Protocol(fake.mock._server_state, 0, testing.CAPABILITIES, loop)
        made.uidvalidity = fake.uidvalidity
        fake.mock._connections.append(made)
        return made

    server = await loop.create_server(protocol, "127.0.0.1", 0)
    fake.port = server.sockets[0].getsockname()[1]
    yield fake
    server.close()
    for connection in fake.mock._connections:
        if connection.transport is not None:
            connection.transport.close()


@dataclass
class Mailer:
    """What the local SMTP server received."""

    port: int = 0
    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and data.password.decode() == PASSWORD
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[Mailer]:
    mailer = Mailer(port=free_port())
    controller = Controller(
        mailer,
        hostname="127.0.0.1",
        port=mailer.port,
        authenticator=_authenticate,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    yield mailer
    controller.stop()


@pytest.fixture
async def channel(db: Database) -> ChannelRef:
    async with db.write() as session:
        workspace = Workspace(slug="acme", name="Acme")
        session.add(workspace)
        await session.flush()
        row = Channel(workspace_id=workspace.id, network="email", name=USER, account=USER)
        session.add(row)
        await session.flush()
        return ChannelRef(id=row.id, workspace_id=workspace.id, network="email")


def connector_for(
    imap: FakeImap, smtp: Mailer | None = None, *, password: str = PASSWORD, **config: Any
) -> EmailConnector:
    settings: dict[str, Any] = {
        "imap_host": "127.0.0.1",
        "imap_port": imap.port,
        "imap_tls": False,
        "idle": False,
        "timeout": 2.0,
        **config,
    }
    if smtp is not None:
        settings.update(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none")
    return EmailConnector(
        ChannelContext(
            channel_id=1,
            account=USER,
            config=settings,
            credentials={"username": USER, "password": password},
        )
    )
