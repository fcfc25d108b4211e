"""The analytics page: dialogue, response, listening, publishing and contributor spread for a
period, with filters; CSV and XLSX exports of the same tables; scheduled e-mail reports.

Figures come from the aggregate tables (:mod:`allsang.analytics.figures`). Each chart is
drawn in the browser (uPlot, served from the package) from the accessible table under it, so
the table is the chart's data and its text alternative at once.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import select
from starlette.responses import Response

from allsang import audit, i18n
from allsang.analytics.export import report_xlsx, table_csv
from allsang.analytics.figures import Filters, Report, build_report, headline_items
from allsang.analytics.reports import FREQUENCIES, parse_recipients
from allsang.db.models import Channel, Department, Membership, Person
from allsang.db.models.analytics import AnalyticsReport, AnalyticsState
from allsang.db.types import utcnow
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.templating import render
from allsang.web.viewer import Viewer, client_ip, require, runtime_of

router = APIRouter(prefix="/analytics")

PERIODS = (7, 30, 90, 365)
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366


def _workspace_id(viewer: Viewer) -> int:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    return workspace_id


def _today(viewer: Viewer) -> date:
    zone = ZoneInfo(viewer.workspace.timezone if viewer.workspace else "UTC")
    return utcnow().astimezone(zone).date()


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def filters_from(request: Request, viewer: Viewer) -> Filters:
    """The period and filters of the query string; anything malformed falls back to the
    default (the last 30 days up to today, no filter)."""
    q = request.query_params
    today = _today(viewer)
    last = _date(q.get("last")) or today
    days = _int(q.get("days"))
    first = _date(q.get("first"))
    if days is not None and days > 0 and first is None:
        first = last - timedelta(days=min(days, MAX_DAYS) - 1)
    if first is None or first > last:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    return Filters(
        first,
        last,
        channel_id=_int(q.get("channel")),
        department_id=_int(q.get("department")),
        person_id=_int(q.get("person")),
    )


def _query(f: Filters) -> str:
    parts = [f"first={f.first.isoformat()}", f"last={f.last.isoformat()}"]
    for name, value in (
        ("channel", f.channel_id),
        ("department", f.department_id),
        ("person", f.person_id),
    ):
        if value:
            parts.append(f"{name}={value}")
    return "&".join(parts)


def fmt(value: Any, kind: str) -> str:
    """A figure as people read it (the raw value goes into ``data-value`` for the chart)."""
    if value is None:
        return "–"
    if kind == "percent":
        return f"{i18n.format_number(round(value * 100, 1))} %"
    if kind == "seconds":
        minutes = value / 60
        if minutes < 90:
            return f"{i18n.format_number(round(minutes, 1))} min"
        return f"{i18n.format_number(round(minutes / 60, 1))} h"
    if kind == "float":
        return i18n.format_number(round(value, 2))
    if kind == "date":
        return value.isoformat()
    if kind == "int":
        return i18n.format_number(value)
    return str(value)


def raw(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "date":
        return value.isoformat()
    if kind in ("int", "float", "percent", "seconds"):
        return repr(float(value))
    return ""


async def _report(request: Request, viewer: Viewer) -> Report:
    f = filters_from(request, viewer)
    async with runtime_of(request).db.read() as session:
        return await build_report(session, _workspace_id(viewer), f)


@router.get("")
async def analytics_home(
    request: Request, viewer: Annotated[Viewer, Depends(require("analytics.view"))]
) -> Response:
    workspace_id = _workspace_id(viewer)
    report = await _report(request, viewer)
    async with runtime_of(request).db.read() as session:
        channels = list(
            await session.execute(
                select(Channel.id, Channel.name)
                .where(Channel.workspace_id == workspace_id)
                .order_by(Channel.name)
            )
        )
        departments = list(
            await session.execute(
                select(Department.id, Department.name)
                .where(Department.workspace_id == workspace_id)
                .order_by(Department.name)
            )
        )
        people = list(
            await session.execute(
                select(Person.id, Person.name)
                .join(Membership, Membership.person_id == Person.id)
                .where(Membership.workspace_id == workspace_id)
                .order_by(Person.name)
            )
        )
        state = await session.get(AnalyticsState, workspace_id)
    f = report.filters
    return render(
        request,
        "analytics/index.html",
        {
            "report": report,
            "headline": headline_items(report),
            "filters": f,
            "query": _query(f),
            "periods": PERIODS,
            "channels": channels,
            "departments": departments,
            "people": people,
            "updated_at": state.updated_at if state else None,
            "fmt": fmt,
            "raw": raw,
            "section": "analytics",
        },
    )


@router.get("/export.csv")
async def export_csv(
    request: Request, viewer: Annotated[Viewer, Depends(require("analytics.view"))]
) -> Response:
    report = await _report(request, viewer)
    key = request.query_params.get("table", "dialogue_channel")
    table = next((t for t in report.tables if t.key == key), None)
    if table is None:
        raise PageError(404, i18n.gettext("There is no such table."))
    f = report.filters
    return Response(
        table_csv(table),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="allsang-{key}-{f.first}-{f.last}.csv"'
        },
    )


@router.get("/export.xlsx")
async def export_xlsx(
    request: Request, viewer: Annotated[Viewer, Depends(require("analytics.view"))]
) -> Response:
    report = await _report(request, viewer)
    f = report.filters
    return Response(
        report_xlsx(report),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="allsang-{f.first}-{f.last}.xlsx"'},
    )


# --- scheduled reports ----------------------------------------------------------------------


async def _reports_page(
    request: Request, viewer: Viewer, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.read() as session:
        departments = dict(
            (
                await session.execute(
                    select(Department.id, Department.name)
                    .where(Department.workspace_id == workspace_id)
                    .order_by(Department.name)
                )
            ).all()  # type: ignore[arg-type]
        )
        rows = list(
            await session.scalars(
                select(AnalyticsReport)
                .where(AnalyticsReport.workspace_id == workspace_id)
                .order_by(AnalyticsReport.id)
            )
        )
    return render(
        request,
        "analytics/reports.html",
        {
            "reports": rows,
            "departments": departments,
            "frequencies": FREQUENCIES,
            "errors": errors or {},
            "section": "analytics",
        },
        status_code=status,
    )


@router.get("/reports")
async def reports_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("analytics.manage"))]
) -> Response:
    return await _reports_page(request, viewer)


@router.post("/reports")
async def create_report(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("analytics.manage"))],
    recipients: Annotated[str, Form()] = "",
    department: Annotated[str, Form()] = "",
    frequency: Annotated[str, Form()] = "weekly",
    locale: Annotated[str, Form()] = "en",
) -> Response:
    workspace_id = _workspace_id(viewer)
    addresses = parse_recipients(recipients)
    errors = {}
    if not addresses or len(recipients) > 2000:
        errors["recipients"] = i18n.gettext("Give at least one e-mail address.")
    if frequency not in FREQUENCIES:
        errors["frequency"] = i18n.gettext("Choose weekly or monthly.")
    department_id = _int(department)
    async with runtime_of(request).db.write() as session:
        if department_id is not None:
            row = await session.get(Department, department_id)
            if row is None or row.workspace_id != workspace_id:
                errors["department"] = i18n.gettext("There is no such department.")
        if errors:
            await session.rollback()
        else:
            report = AnalyticsReport(
                workspace_id=workspace_id,
                department_id=department_id,
                recipients=", ".join(addresses),
                frequency=frequency,
                locale=locale if locale in i18n.LOCALES else "en",
            )
            session.add(report)
            await session.flush()
            audit.record(
                session,
                viewer.actor,
                "analytics.report.create",
                "analytics_report",
                report.id,
                workspace_id=workspace_id,
                ip=client_ip(request),
            )
    if errors:
        return await _reports_page(request, viewer, errors, status=422)
    return redirect("/analytics/reports?ok=saved")


@router.post("/reports/{report_id}/delete")
async def delete_report(
    request: Request,
    report_id: int,
    viewer: Annotated[Viewer, Depends(require("analytics.manage"))],
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.write() as session:
        row = await session.get(AnalyticsReport, report_id)
        if row is None or row.workspace_id != workspace_id:
            raise PageError(404, i18n.gettext("There is no such report."))
        await session.delete(row)
        audit.record(
            session,
            viewer.actor,
            "analytics.report.delete",
            "analytics_report",
            report_id,
            workspace_id=workspace_id,
            ip=client_ip(request),
        )
    return redirect("/analytics/reports?ok=deleted")
