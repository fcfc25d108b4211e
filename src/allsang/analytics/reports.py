"""Scheduled e-mail reports per department: the past week or month as an XLSX attachment.

A report row (``analytics_report``) names a department (or none: the whole workspace), the
recipients and the frequency. The hourly job :func:`send_due_reports` sends each report whose
last complete period (in the workspace's time zone) has not been sent yet, through the SMTP
settings (``smtp_*``) with the e-mail connector's sender (:func:`allsang.connectors.email.
client.send`), then records the period. Delivery is at least once: if the process dies between
the send and the commit, the next run sends that period again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses
from zoneinfo import ZoneInfo

from sqlalchemy import select

from allsang import i18n
from allsang.analytics.export import report_xlsx
from allsang.analytics.figures import Filters, build_report, headline_items
from allsang.connectors.email.client import SmtpSettings, send
from allsang.db.models import Department, Workspace
from allsang.db.models.analytics import AnalyticsReport
from allsang.db.types import utcnow
from allsang.runtime import Runtime

log = logging.getLogger(__name__)

JOB_KIND = "analytics.reports"
FREQUENCIES = ("weekly", "monthly")


class ReportNotSent(Exception):
    """The report could not be sent (no SMTP server configured, or the server refused)."""


@dataclass(frozen=True, slots=True)
class Period:
    key: str  # 2026-W09 or 2026-02
    first: date
    last: date


def last_complete_period(frequency: str, today: date) -> Period:
    """The last whole week (Monday–Sunday) or calendar month before ``today``."""
    if frequency == "monthly":
        last = today.replace(day=1) - timedelta(days=1)
        return Period(f"{last:%Y-%m}", last.replace(day=1), last)
    monday = today - timedelta(days=today.weekday() + 7)
    year, week, _weekday = monday.isocalendar()
    return Period(f"{year}-W{week:02d}", monday, monday + timedelta(days=6))


def parse_recipients(text: str) -> list[str]:
    """Addresses from a comma- or line-separated list; the ones without an @ are dropped."""
    return [addr for _name, addr in getaddresses([text.replace("\n", ",")]) if "@" in addr]


def _format(value: object, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "percent":
        return f"{float(value) * 100:.1f} %"  # type: ignore[arg-type]
    if kind == "seconds":
        return f"{float(value) / 60:.0f} min"  # type: ignore[arg-type]
    return i18n.format_number(value)  # type: ignore[arg-type]


async def send_report(runtime: Runtime, report_id: int, *, today: date | None = None) -> str:
    """Build and send one report for its last complete period; the period key sent."""
    settings = runtime.settings
    if not settings.smtp_host or not settings.smtp_from:
        raise ReportNotSent("smtp_host and smtp_from must be set to send reports")
    async with runtime.db.read() as session:
        row = await session.get(AnalyticsReport, report_id)
        if row is None:
            raise ReportNotSent(f"report {report_id} does not exist")
        workspace = await session.get(Workspace, row.workspace_id)
        assert workspace is not None
        department = await session.get(Department, row.department_id) if row.department_id else None
        zone = ZoneInfo(workspace.timezone or "UTC")
        period = last_complete_period(row.frequency, today or utcnow().astimezone(zone).date())
        with i18n.using_locale(row.locale, workspace.timezone):
            report = await build_report(
                session,
                workspace.id,
                Filters(period.first, period.last, department_id=row.department_id),
            )
            scope = department.name if department else workspace.name
            subject = i18n.gettext("Allsang report for %(scope)s, %(period)s") % {
                "scope": scope,
                "period": period.key,
            }
            lines = [subject, ""] + [
                f"{i18n.gettext(label)}: {_format(value, kind)}"
                for label, value, kind in headline_items(report)
            ]
            lines += ["", i18n.gettext("The attached workbook has every table of the period.")]
            workbook = report_xlsx(report)
    recipients = parse_recipients(row.recipients)
    if not recipients:
        raise ReportNotSent(f"report {report_id} has no recipients")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message.set_content("\n".join(lines))
    message.add_attachment(
        workbook,
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        filename=f"allsang-{period.key}.xlsx",
    )
    smtp = SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        tls=settings.smtp_tls,
    )
    await send(smtp, message)
    return period.key


async def send_due_reports(runtime: Runtime, *, now: datetime | None = None) -> list[int]:
    """Send every report whose last complete period is not sent yet; the ids sent."""
    now = now or utcnow()
    async with runtime.db.read() as session:
        rows = list(
            await session.execute(
                select(AnalyticsReport, Workspace.timezone).join(
                    Workspace, Workspace.id == AnalyticsReport.workspace_id
                )
            )
        )
    sent = []
    for row, timezone in rows:
        today = now.astimezone(ZoneInfo(timezone or "UTC")).date()
        period = last_complete_period(row.frequency, today)
        if row.last_period == period.key:
            continue
        key = await send_report(runtime, row.id, today=today)
        async with runtime.db.write() as session:
            fresh = await session.get(AnalyticsReport, row.id)
            if fresh is not None:
                fresh.last_period = key
        sent.append(row.id)
    return sent
