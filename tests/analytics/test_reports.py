"""Scheduled reports arrive at a real (local) SMTP server with the XLSX attached."""

from __future__ import annotations

import email
import io
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.message import Message as MailMessage

import pytest
from aiosmtpd.controller import Controller
from openpyxl import load_workbook

from allsang.analytics import aggregate
from allsang.analytics.reports import (
    ReportNotSent,
    last_complete_period,
    parse_recipients,
    send_due_reports,
)
from allsang.db.models.analytics import AnalyticsReport
from allsang.runtime import Runtime
from tests.analytics.history import known_history


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], MailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox, port = _Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_periods_are_the_last_whole_week_or_month() -> None:
    wednesday = date(2026, 3, 4)
    week = last_complete_period("weekly", wednesday)
    assert (week.key, week.first, week.last) == ("2026-W09", date(2026, 2, 23), date(2026, 3, 1))
    month = last_complete_period("monthly", wednesday)
    assert (month.key, month.first, month.last) == ("2026-02", date(2026, 2, 1), date(2026, 2, 28))


def test_recipients_are_read_from_commas_and_lines() -> None:
    assert parse_recipients("a@x.se, Bo <b@y.no>\nnot-an-address") == ["a@x.se", "b@y.no"]


async def test_a_weekly_report_arrives_once_with_the_workbook(
    runtime: Runtime, smtp: tuple[_Inbox, int]
) -> None:
    inbox, port = smtp
    runtime = Runtime(
        settings=runtime.settings.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_tls": "none",
                "smtp_from": "allsang@example.org",
            }
        ),
        db=runtime.db,
        secrets=runtime.secrets,
    )
    async with runtime.db.write() as session:
        w = await known_history(session)
        session.add(
            AnalyticsReport(
                workspace_id=w.workspace.id,
                department_id=w.support.id,
                recipients="chef@example.org",
                frequency="weekly",
                locale="sv",
            )
        )
    await aggregate.refresh(runtime.db, w.workspace.id)
    # Monday 9 March: the week of 2–8 March is complete.
    now = datetime(2026, 3, 9, 7, tzinfo=UTC)
    assert len(await send_due_reports(runtime, now=now)) == 1
    assert await send_due_reports(runtime, now=now) == []  # the period is recorded as sent
    # The server accepted the message before the send returned: no waiting needed.
    ((recipients, mail),) = inbox.messages
    assert recipients == ["chef@example.org"]
    assert "Support" in mail["Subject"] and "2026-W10" in mail["Subject"]
    body = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    assert "Svarsfrekvens: 50.0 %" in body.get_payload(decode=True).decode()
    attachment = next(p for p in mail.walk() if p.get_filename())
    book = load_workbook(io.BytesIO(attachment.get_payload(decode=True)))
    sheet = book["Dialog per kanal"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in rows] == ["Mastodon"]  # only the Support department's channel


async def test_without_an_smtp_server_the_job_fails_with_the_reason(runtime: Runtime) -> None:
    async with runtime.db.write() as session:
        w = await known_history(session)
        session.add(AnalyticsReport(workspace_id=w.workspace.id, recipients="a@example.org"))
    with pytest.raises(ReportNotSent, match="smtp_host"):
        await send_due_reports(runtime, now=datetime(2026, 3, 9, 7, tzinfo=UTC))
