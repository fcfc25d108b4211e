"""The e-mail connector against a local IMAP server and a local SMTP server."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from allsang.connectors.base import AuthExpired, PermanentError, TransientError
from allsang.connectors.email import EmailConnector
from allsang.db import Database
from allsang.db.models import Channel, Message, QuarantinedItem
from allsang.ingest.pipeline import ChannelRef, IngestResult, Pipeline
from tests.connectors.email.conftest import USER, FakeImap, Mailer, connector_for, free_port

# The local SMTP server takes AUTH in the clear: it lives on 127.0.0.1 for one test.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

FIXTURES = Path(__file__).resolve().parents[3] / "src/allsang/connectors/email/fixtures"


def own(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def recorded(payloads: Path) -> list[bytes]:
    files = sorted((payloads / "imap-tools-eml").rglob("*.eml"))
    return [f.read_bytes() for f in files]


async def ingest(
    connector: EmailConnector, db: Database, channel: ChannelRef, cursor: dict[str, Any]
) -> IngestResult:
    total = IngestResult()
    pipeline = Pipeline(db)
    async with asyncio.timeout(20):
        async for batch in connector.listen(cursor):
            total.add(
                await pipeline.ingest(
                    channel, batch.items, connector.normalise, cursor=batch.cursor
                )
            )
    return total


async def saved_cursor(db: Database, channel: ChannelRef) -> dict[str, Any]:
    async with db.read() as session:
        row = await session.get(Channel, channel.id)
        assert row is not None
        return row.cursor


async def messages(db: Database) -> dict[str, Message]:
    async with db.read() as session:
        return {m.external_id: m for m in await session.scalars(select(Message))}


async def test_every_recorded_message_is_stored_or_quarantined_and_a_rerun_adds_nothing(
    imap: FakeImap, payloads: Path, db: Database, channel: ChannelRef
) -> None:
    mails = recorded(payloads)
    for raw in mails:
        imap.deliver(raw)
    connector = connector_for(imap, batch_size=20)

    first = await ingest(connector, db, channel, {})

    assert first.accepted + first.duplicates + first.quarantined == len(mails)
    assert first.accepted >= 50  # some recorded files share a Message-ID
    async with db.read() as session:
        reasons = list(await session.scalars(select(QuarantinedItem.reason)))
    assert not [r for r in reasons if r.startswith("normaliser error")]
    cursor = await saved_cursor(db, channel)
    assert cursor == {"uidvalidity": imap.uidvalidity, "last_uid": len(mails)}

    again = await ingest(connector, db, channel, cursor)
    assert (again.accepted, again.duplicates, again.quarantined) == (0, 0, 0)


async def test_a_recorded_reply_keeps_its_headers(
    imap: FakeImap, payloads: Path, db: Database, channel: ChannelRef
) -> None:
    imap.deliver((payloads / "imap-tools-eml/rfc2822/example06.eml").read_bytes())
    await ingest(connector_for(imap), db, channel, {})

    (stored,) = (await messages(db)).values()
    assert stored.external_id == "3456@example.net"
    assert stored.in_reply_to == "1234@local.machine.example"
    assert stored.extra["references"] == ["1234@local.machine.example"]
    assert stored.extra["title"] == "Re: Saying Hello"
    assert stored.extra["reply_to"] == "smith@home.example"
    assert stored.extra["author"] == {"handle": "mary@example.net", "name": "Mary Smith"}
    assert stored.kind == "email"


async def test_a_reply_and_a_follow_up_join_the_question_s_conversation(
    imap: FakeImap, db: Database, channel: ChannelRef
) -> None:
    for name in ("question.eml", "reply.eml", "followup.eml"):
        imap.deliver(own(name))
    connector = connector_for(imap)
    await ingest(connector, db, channel, {})

    stored = await messages(db)
    question, reply, followup = (
        stored["q1.kari@example.no"],
        stored["r1.support@acme.example"],
        stored["q2.kari@example.no"],
    )
    assert question.conversation_id is not None
    assert reply.conversation_id == followup.conversation_id == question.conversation_id
    assert reply.direction == "outbound"  # sent from the channel's own address
    assert reply.text == "Hei Kari,\n\n1. desember. Velkommen!"  # HTML, no script
    assert question.extra["title"] == "Når åpner biblioteket?"
    assert question.created_at == datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
    assert followup.extra["author"] == {"handle": "kari@example.no", "name": "Nordmann, Kari"}
    assert followup.text == "Takk! Gjør dere noe for barna den dagen?"


async def test_a_changed_uidvalidity_reads_the_folder_again_without_duplicates(
    imap: FakeImap, db: Database, channel: ChannelRef, caplog: pytest.LogCaptureFixture
) -> None:
    mails = [own("question.eml"), own("reply.eml")]
    for raw in mails:
        imap.deliver(raw)
    connector = connector_for(imap)
    await ingest(connector, db, channel, {})
    old = await saved_cursor(db, channel)

    imap.renumber([own("followup.eml"), *reversed(mails)])
    with caplog.at_level(logging.WARNING):
        result = await ingest(connector, db, channel, old)

    assert (result.accepted, result.duplicates) == (1, 2)
    assert "UIDVALIDITY" in caplog.text and "from the start" in caplog.text
    assert await saved_cursor(db, channel) == {"uidvalidity": old["uidvalidity"] + 1, "last_uid": 3}
    assert len(await messages(db)) == 3


async def test_a_new_channel_starts_with_the_newest_messages_only(
    imap: FakeImap, db: Database, channel: ChannelRef
) -> None:
    for name in ("question.eml", "reply.eml", "followup.eml"):
        imap.deliver(own(name))
    result = await ingest(connector_for(imap, initial_messages=1), db, channel, {})

    assert result.accepted == 1
    assert list(await messages(db)) == ["q2.kari@example.no"]


async def test_a_message_over_the_size_limit_is_cut_and_marked(
    imap: FakeImap, db: Database, channel: ChannelRef
) -> None:
    big = own("question.eml") + b"x" * (10 * 1024 * 1024)
    imap.deliver(big)
    result = await ingest(connector_for(imap, max_message_bytes=64 * 1024), db, channel, {})

    assert result.accepted == 1
    (stored,) = (await messages(db)).values()
    assert stored.extra["truncated_from"] == len(big)
    assert len(stored.text) < 64 * 1024


async def test_idle_delivers_new_mail_as_it_arrives(
    imap: FakeImap, db: Database, channel: ChannelRef
) -> None:
    imap.deliver(own("question.eml"))
    connector = connector_for(imap, idle=True, idle_seconds=5)
    batches = []
    async with asyncio.timeout(10):
        async for batch in connector.listen({}):
            batches.append(batch)
            if len(batches) == 1:
                await asyncio.sleep(0.2)  # let the connector enter IDLE first
                asyncio.get_running_loop().call_later(0.2, imap.deliver, own("reply.eml"))
            else:
                break
    assert [b.cursor for b in batches] == [
        {"uidvalidity": imap.uidvalidity, "last_uid": 1},
        {"uidvalidity": imap.uidvalidity, "last_uid": 2},
    ]


async def test_a_refused_login_is_auth_expired(imap: FakeImap) -> None:
    with pytest.raises(AuthExpired, match="AUTHENTICATIONFAILED"):
        async for _ in connector_for(imap, password="wrong").listen({}):
            pass


async def test_an_unreachable_server_is_a_transient_error() -> None:
    connector = connector_for(FakeImap(port=free_port()))
    with pytest.raises(TransientError, match="cannot reach the IMAP server"):
        async for _ in connector.listen({}):
            pass


async def test_a_server_that_never_greets_times_out_as_a_transient_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connector = connector_for(FakeImap(port=port), timeout=0.3)
    try:
        with pytest.raises(TransientError):
            async for _ in connector.listen({}):
                pass
    finally:
        server.close()


async def test_a_reply_goes_out_by_smtp_with_threading_headers_and_threads_back_in(
    imap: FakeImap, smtp: Mailer, db: Database, channel: ChannelRef
) -> None:
    imap.deliver(own("question.eml"))
    connector = connector_for(imap, smtp)
    await ingest(connector, db, channel, {})

    sent = await connector.reply("q1.kari@example.no", "Hei Kari! 1. desember.")

    (mail,) = smtp.received
    assert smtp.envelopes == [(USER, ["kari@example.no"])]
    assert mail["Subject"] == "Re: Når åpner biblioteket?"
    assert mail["In-Reply-To"] == "<q1.kari@example.no>"
    assert mail["References"] == "<q1.kari@example.no>"
    assert mail["Message-ID"] == f"<{sent.external_id}>"
    assert sent.external_id.endswith("@acme.example")

    imap.deliver(bytes(mail))  # the copy that lands in the folder (Cc, Sent rule)
    await ingest(connector, db, channel, await saved_cursor(db, channel))
    stored = await messages(db)
    ours = stored[sent.external_id]
    assert ours.direction == "outbound"
    assert ours.conversation_id == stored["q1.kari@example.no"].conversation_id


async def test_a_reply_after_a_restart_finds_the_message_in_the_folder(
    imap: FakeImap, smtp: Mailer
) -> None:
    imap.deliver(own("reply.eml"))
    imap.deliver(own("followup.eml"))

    await connector_for(imap, smtp).reply("q2.kari@example.no", "Ja, eventyrstund kl. 11.")

    (mail,) = smtp.received
    assert mail["To"] == "kari@example.no"
    assert mail["Subject"] == "Re: Re: Når åpner biblioteket?"
    assert mail["References"].split() == [
        "<q1.kari@example.no>",
        "<r1.support@acme.example>",
        "<lost-in-a-forward@example.no>",
        "<q2.kari@example.no>",
    ]


async def test_replying_to_an_unknown_message_is_a_permanent_error(
    imap: FakeImap, smtp: Mailer
) -> None:
    with pytest.raises(PermanentError, match="not in the mailbox"):
        await connector_for(imap, smtp).reply("nobody@example.no", "Hei")


async def test_a_refused_smtp_login_is_auth_expired(imap: FakeImap, smtp: Mailer) -> None:
    connector = connector_for(imap, smtp, password="wrong")
    with pytest.raises(AuthExpired):
        await connector.direct_message("kari@example.no", "Hei")


async def test_an_unreachable_smtp_server_is_a_transient_error(imap: FakeImap) -> None:
    connector = connector_for(imap, Mailer(port=free_port()))
    with pytest.raises(TransientError, match="cannot send"):
        await connector.direct_message("kari@example.no", "Hei")
