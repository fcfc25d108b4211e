"""Continuity pages: the on-duty rota, out of office, bus factor and reconnectors."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from babel.dates import get_day_names
from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from allsang import audit, i18n
from allsang.authz import authorize
from allsang.continuity import absence as absences
from allsang.continuity import busfactor, reconnect, rota
from allsang.continuity.service import announce
from allsang.db.models import Channel, Conversation, Department, Membership, Person, Workspace
from allsang.db.models.continuity import Absence, DutyOverride, DutyRota, DutyShift, Handover
from allsang.db.types import utcnow
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.templating import render
from allsang.web.timezones import TIMEZONES
from allsang.web.viewer import Viewer, client_ip, require, runtime_of

router = APIRouter(prefix="/continuity")

KEPT_SHOWN_FOR = timedelta(days=14)


def _weekdays() -> list[str]:
    """Monday to Sunday in the viewer's language (Babel's names: nothing to translate)."""
    names = get_day_names("wide", locale=i18n.current_locale())
    return [names[day] for day in range(7)]


def _workspace_id(viewer: Viewer) -> int:
    assert viewer.actor.workspace_id is not None
    return viewer.actor.workspace_id


async def _people(session: AsyncSession, workspace_id: int) -> list[Person]:
    """Active members who can take work (not display screens)."""
    return list(
        await session.scalars(
            select(Person)
            .join(Membership, Membership.person_id == Person.id)
            .where(
                Membership.workspace_id == workspace_id,
                Membership.role != "display",
                Person.is_active.is_(True),
            )
            .order_by(Person.name)
        )
    )


async def _names(session: AsyncSession, ids: list[int]) -> list[str]:
    if not ids:
        return []
    return list(await session.scalars(select(Person.name).where(Person.id.in_(ids))))


def _local_input(value: str, timezone: str) -> datetime | None:
    """A ``datetime-local`` form value in the viewer's time zone, as an aware instant."""
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if naive.tzinfo is not None:
        return None
    return naive.replace(tzinfo=ZoneInfo(timezone))


def _input_value(at: datetime) -> str:
    return at.astimezone(ZoneInfo(i18n.current_timezone())).strftime("%Y-%m-%dT%H:%M")


# Rota ----------------------------------------------------------------------------------------


async def _department(session: AsyncSession, workspace_id: int, department_id: int) -> Department:
    department = await session.get(Department, department_id)
    if department is None or department.workspace_id != workspace_id:
        raise PageError(404, i18n.gettext("That department does not exist."))
    return department


@router.get("")
async def continuity_home(
    request: Request, viewer: Annotated[Viewer, Depends(require("continuity.view"))]
) -> Response:
    return redirect("/continuity/rota")


@router.get("/rota")
async def rota_overview(
    request: Request, viewer: Annotated[Viewer, Depends(require("continuity.view"))]
) -> Response:
    workspace_id = _workspace_id(viewer)
    now = utcnow()
    rows = []
    async with runtime_of(request).db.read() as session:
        departments = await session.scalars(
            select(Department)
            .where(Department.workspace_id == workspace_id)
            .order_by(Department.name)
        )
        for department in list(departments):
            names = await _names(session, await rota.on_duty(session, department.id, now))
            rows.append((department, await rota.rota_timezone(session, department), names))
    return render(request, "continuity/rota_overview.html", {"rows": rows, "section": "continuity"})


async def _rota_page(
    request: Request, viewer: Viewer, department_id: int, *, error: str = "", status_code: int = 200
) -> Response:
    workspace_id = _workspace_id(viewer)
    now = utcnow()
    async with runtime_of(request).db.read() as session:
        department = await _department(session, workspace_id, department_id)
        zone = await rota.rota_timezone(session, department)
        own_zone = await session.scalar(
            select(DutyRota.timezone).where(DutyRota.department_id == department_id)
        )
        on_duty = await _names(session, await rota.on_duty(session, department_id, now))
        shifts = list(
            await session.execute(
                select(DutyShift, Person.name)
                .join(Person, Person.id == DutyShift.person_id)
                .where(DutyShift.department_id == department_id)
                .order_by(DutyShift.weekday, DutyShift.start_minute, Person.name)
            )
        )
        overrides = list(
            await session.execute(
                select(DutyOverride, Person.name)
                .join(Person, Person.id == DutyOverride.person_id)
                .where(DutyOverride.department_id == department_id, DutyOverride.ends_at > now)
                .order_by(DutyOverride.starts_at)
            )
        )
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None
        _channels, departments = await busfactor.participation(session, workspace, now)
        people = await _people(session, workspace_id)
    took_part = next((d for d in departments if d.id == department_id), None)
    return render(
        request,
        "continuity/rota.html",
        {
            "department": department,
            "zone": zone,
            "own_zone": own_zone or "",
            "timezones": TIMEZONES,
            "on_duty": on_duty,
            "shifts": shifts,
            "overrides": overrides,
            "took_part": took_part,
            "people": people,
            "error": error,
            "section": "continuity",
            "weekdays": _weekdays(),
            "clock": rota.format_clock,
        },
        status_code=status_code,
    )


@router.get("/rota/{department_id}")
async def rota_page(
    request: Request,
    department_id: int,
    viewer: Annotated[Viewer, Depends(require("continuity.view"))],
) -> Response:
    return await _rota_page(request, viewer, department_id)


async def _check_member(session: AsyncSession, workspace_id: int, person_id: int) -> None:
    if person_id not in {p.id for p in await _people(session, workspace_id)}:
        raise PageError(422, i18n.gettext("Choose one of the people in the list."))


@router.post("/rota/{department_id}/shifts")
async def add_shift(
    request: Request,
    department_id: int,
    viewer: Annotated[Viewer, Depends(require("rota.manage"))],
    person_id: Annotated[int, Form()],
    weekday: Annotated[int, Form()],
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
) -> Response:
    workspace_id = _workspace_id(viewer)
    try:
        start_minute, end_minute = rota.parse_clock(start), rota.parse_clock(end)
    except ValueError:
        return await _rota_page(
            request,
            viewer,
            department_id,
            error=i18n.gettext("Enter the times as hours and minutes, like 09:00."),
            status_code=422,
        )
    if not 0 <= weekday <= 6 or start_minute >= rota.MINUTES_PER_DAY:
        return await _rota_page(
            request,
            viewer,
            department_id,
            error=i18n.gettext("Choose a day and a start before midnight."),
            status_code=422,
        )
    async with runtime_of(request).db.write() as session:
        await _department(session, workspace_id, department_id)
        await _check_member(session, workspace_id, person_id)
        shift = DutyShift(
            workspace_id=workspace_id,
            department_id=department_id,
            person_id=person_id,
            weekday=weekday,
            start_minute=start_minute,
            end_minute=end_minute % rota.MINUTES_PER_DAY,
        )
        session.add(shift)
        await session.flush()
        audit.record(
            session,
            viewer.actor,
            "rota.shift_add",
            "department",
            department_id,
            ip=client_ip(request),
            person=person_id,
            weekday=weekday,
            start=start,
            end=end,
        )
    return redirect(f"/continuity/rota/{department_id}", ok="saved")


@router.post("/rota/{department_id}/shifts/{shift_id}/delete")
async def delete_shift(
    request: Request,
    department_id: int,
    shift_id: int,
    viewer: Annotated[Viewer, Depends(require("rota.manage"))],
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.write() as session:
        await _department(session, workspace_id, department_id)
        result = await session.execute(
            delete(DutyShift).where(
                DutyShift.id == shift_id, DutyShift.department_id == department_id
            )
        )
        if result.rowcount:  # type: ignore[attr-defined]
            audit.record(
                session,
                viewer.actor,
                "rota.shift_delete",
                "department",
                department_id,
                ip=client_ip(request),
                shift=shift_id,
            )
    return redirect(f"/continuity/rota/{department_id}", ok="deleted")


@router.post("/rota/{department_id}/overrides")
async def add_override(
    request: Request,
    department_id: int,
    viewer: Annotated[Viewer, Depends(require("rota.manage"))],
    person_id: Annotated[int, Form()],
    kind: Annotated[str, Form()] = "on",
    starts: Annotated[str, Form()] = "",
    ends: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    workspace_id = _workspace_id(viewer)
    zone = i18n.current_timezone()
    starts_at, ends_at = _local_input(starts, zone), _local_input(ends, zone)
    if kind not in ("on", "off") or starts_at is None or ends_at is None or ends_at <= starts_at:
        return await _rota_page(
            request,
            viewer,
            department_id,
            error=i18n.gettext("Enter a start and an end after it."),
            status_code=422,
        )
    async with runtime_of(request).db.write() as session:
        await _department(session, workspace_id, department_id)
        await _check_member(session, workspace_id, person_id)
        session.add(
            DutyOverride(
                workspace_id=workspace_id,
                department_id=department_id,
                person_id=person_id,
                kind=kind,
                starts_at=starts_at,
                ends_at=ends_at,
                note=note.strip()[:200],
            )
        )
        audit.record(
            session,
            viewer.actor,
            "rota.override_add",
            "department",
            department_id,
            ip=client_ip(request),
            person=person_id,
            kind=kind,
            starts_at=starts_at.isoformat(),
            ends_at=ends_at.isoformat(),
        )
    return redirect(f"/continuity/rota/{department_id}", ok="saved")


@router.post("/rota/{department_id}/overrides/{override_id}/delete")
async def delete_override(
    request: Request,
    department_id: int,
    override_id: int,
    viewer: Annotated[Viewer, Depends(require("rota.manage"))],
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.write() as session:
        await _department(session, workspace_id, department_id)
        result = await session.execute(
            delete(DutyOverride).where(
                DutyOverride.id == override_id, DutyOverride.department_id == department_id
            )
        )
        if result.rowcount:  # type: ignore[attr-defined]
            audit.record(
                session,
                viewer.actor,
                "rota.override_delete",
                "department",
                department_id,
                ip=client_ip(request),
                override=override_id,
            )
    return redirect(f"/continuity/rota/{department_id}", ok="deleted")


@router.post("/rota/{department_id}/timezone")
async def set_rota_timezone(
    request: Request,
    department_id: int,
    viewer: Annotated[Viewer, Depends(require("rota.manage"))],
    timezone: Annotated[str, Form()] = "",
) -> Response:
    workspace_id = _workspace_id(viewer)
    if timezone and timezone not in TIMEZONES:
        return await _rota_page(
            request,
            viewer,
            department_id,
            error=i18n.gettext("Choose a time zone from the list."),
            status_code=422,
        )
    async with runtime_of(request).db.write() as session:
        await _department(session, workspace_id, department_id)
        row = await session.get(DutyRota, department_id)
        if row is None:
            row = DutyRota(department_id=department_id, workspace_id=workspace_id)
            session.add(row)
        row.timezone = timezone or None
        audit.record(
            session,
            viewer.actor,
            "rota.timezone",
            "department",
            department_id,
            ip=client_ip(request),
            timezone=timezone or None,
        )
    return redirect(f"/continuity/rota/{department_id}", ok="saved")


# Out of office -------------------------------------------------------------------------------


async def _away_page(
    request: Request,
    viewer: Viewer,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    workspace_id = _workspace_id(viewer)
    now = utcnow()
    async with runtime_of(request).db.read() as session:
        people = await _people(session, workspace_id)
        names = {p.id: p.name for p in people}
        rows = list(
            await session.scalars(
                select(Absence)
                .where(
                    Absence.workspace_id == workspace_id,
                    Absence.state.in_(("scheduled", "active")),
                )
                .order_by(Absence.starts_at)
            )
        )
        counts: dict[int, dict[str, int]] = {}
        for absence_id, outcome in await session.execute(
            select(Handover.absence_id, Handover.outcome).where(
                Handover.absence_id.in_([row.id for row in rows])
            )
        ):
            bucket = counts.setdefault(absence_id, {})
            bucket[outcome or "open"] = bucket.get(outcome or "open", 0) + 1
        # What the viewer's deputies kept after their recent absences, so they can take it back.
        kept = list(
            await session.execute(
                select(Conversation.id, Conversation.subject, Handover.to_person_id)
                .join(
                    Handover,
                    (Handover.object_id == Conversation.id) & (Handover.kind == "conversation"),
                )
                .join(Absence, Absence.id == Handover.absence_id)
                .where(
                    Absence.workspace_id == workspace_id,
                    Absence.person_id == viewer.actor.person_id,
                    Handover.outcome == "kept",
                    Handover.settled_at >= now - KEPT_SHOWN_FOR,
                )
                .order_by(Handover.settled_at.desc(), Conversation.id)
                .limit(50)
            )
        )
    return render(
        request,
        "continuity/away.html",
        {
            "absences": rows,
            "names": names,
            "counts": counts,
            "kept": kept,
            "people": people,
            "error": error,
            "form": form or {"starts": _input_value(now), "ends": "", "deputy_id": "", "note": ""},
            "section": "continuity",
        },
        status_code=status_code,
    )


@router.get("/away")
async def away_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("continuity.view"))]
) -> Response:
    return await _away_page(request, viewer)


@router.post("/away")
async def create_absence(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("absence.own"))],
    deputy_id: Annotated[str, Form()] = "",
    starts: Annotated[str, Form()] = "",
    ends: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    person_id: Annotated[str, Form()] = "",
) -> Response:
    workspace_id = _workspace_id(viewer)
    me = viewer.actor.person_id
    form = {"starts": starts, "ends": ends, "deputy_id": deputy_id, "note": note}
    who = int(person_id) if person_id.isdigit() else me
    if who is None:
        raise PageError(403, i18n.gettext("Only people can be out of office."))
    if who != me:
        authorize(viewer.actor, "absence.manage")
    zone = i18n.current_timezone()
    starts_at = _local_input(starts, zone) if starts.strip() else utcnow()
    ends_at = _local_input(ends, zone)
    if starts_at is None or ends_at is None or not deputy_id.isdigit():
        return await _away_page(
            request,
            viewer,
            error=i18n.gettext("Enter when you leave, when you are back, and a deputy."),
            form=form,
            status_code=422,
        )
    runtime = runtime_of(request)
    try:
        async with runtime.db.write() as session:
            await _check_member(session, workspace_id, who)
            _absence, outcome = await absences.create(
                session,
                viewer.actor,
                workspace_id=workspace_id,
                person_id=who,
                deputy_id=int(deputy_id),
                starts_at=starts_at,
                ends_at=ends_at,
                note=note,
            )
    except absences.AbsenceError as exc:
        return await _away_page(request, viewer, error=str(exc), form=form, status_code=422)
    await announce(runtime, outcome.conversation_ids)
    return redirect("/continuity/away", ok="saved")


@router.post("/away/{absence_id}/end")
async def end_absence(
    request: Request,
    absence_id: int,
    viewer: Annotated[Viewer, Depends(require("absence.own"))],
) -> Response:
    workspace_id = _workspace_id(viewer)
    runtime = runtime_of(request)
    async with runtime.db.write() as session:
        absence = await absences.lock(session, absence_id)
        if absence is None or absence.workspace_id != workspace_id:
            raise PageError(404, i18n.gettext("That absence does not exist."))
        if absence.person_id != viewer.actor.person_id:
            authorize(viewer.actor, "absence.manage")
        outcome = await absences.end(session, absence, viewer.actor)
    await announce(runtime, outcome.conversation_ids)
    return redirect("/continuity/away", ok="saved")


# Bus factor and reconnectors -----------------------------------------------------------------


@router.get("/bus-factor")
async def bus_factor_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("continuity.view"))]
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.read() as session:
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None
        channels, departments = await busfactor.participation(session, workspace)
        coverage = {
            item.channel_id: item for item in await reconnect.coverage(session, workspace_id)
        }
    return render(
        request,
        "continuity/bus_factor.html",
        {
            "channels": channels,
            "departments": departments,
            "coverage": coverage,
            "silent_days": busfactor.silent_days(workspace),
            "window_days": busfactor.WINDOW_DAYS,
            "section": "continuity",
        },
    )


@router.post("/bus-factor/settings")
async def bus_factor_settings(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("workspace.update"))],
    silent_days: Annotated[str, Form()] = "",
) -> Response:
    workspace_id = _workspace_id(viewer)
    days = int(silent_days) if silent_days.strip().isdigit() else 0
    async with runtime_of(request).db.write() as session:
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None
        try:
            busfactor.store_silent_days(workspace, days)
        except ValueError:
            raise PageError(422, i18n.gettext("Enter a number of days from 1 to 365.")) from None
        audit.record(
            session,
            viewer.actor,
            "continuity.settings",
            "workspace",
            workspace_id,
            ip=client_ip(request),
            silent_days=days,
        )
    return redirect("/continuity/bus-factor", ok="saved")


async def _channel(session: AsyncSession, workspace_id: int, channel_id: int) -> Channel:
    channel = await session.get(Channel, channel_id)
    if channel is None or channel.workspace_id != workspace_id:
        raise PageError(404, i18n.gettext("That channel does not exist."))
    return channel


@router.get("/channels/{channel_id}")
async def channel_page(
    request: Request,
    channel_id: int,
    viewer: Annotated[Viewer, Depends(require("continuity.view"))],
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.read() as session:
        channel = await _channel(session, workspace_id, channel_id)
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None
        channels, _departments = await busfactor.participation(session, workspace)
        (coverage,) = await reconnect.coverage(session, workspace_id, channel_id=channel_id)
        candidates = await reconnect.candidates(session, workspace_id)
    named = {pid for pid, _ in coverage.named}
    return render(
        request,
        "continuity/channel.html",
        {
            "channel": channel,
            "took_part": next(c for c in channels if c.id == channel_id),
            "coverage": coverage,
            "candidates": [(pid, name) for pid, name in candidates if pid not in named],
            "minimum": reconnect.MIN_RECONNECTORS,
            "silent_days": busfactor.silent_days(workspace),
            "window_days": busfactor.WINDOW_DAYS,
            "section": "continuity",
        },
    )


@router.post("/channels/{channel_id}/reconnectors")
async def add_reconnector(
    request: Request,
    channel_id: int,
    viewer: Annotated[Viewer, Depends(require("channel.reconnectors"))],
    person_id: Annotated[int, Form()],
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.write() as session:
        channel = await _channel(session, workspace_id, channel_id)
        if not await reconnect.name(session, viewer.actor, channel, person_id):
            raise PageError(
                422, i18n.gettext("Only active people whose role lets them reconnect can be named.")
            )
    return redirect(f"/continuity/channels/{channel_id}", ok="saved")


@router.post("/channels/{channel_id}/reconnectors/{person_id}/delete")
async def remove_reconnector(
    request: Request,
    channel_id: int,
    person_id: int,
    viewer: Annotated[Viewer, Depends(require("channel.reconnectors"))],
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.write() as session:
        channel = await _channel(session, workspace_id, channel_id)
        await reconnect.unname(session, viewer.actor, channel, person_id)
    return redirect(f"/continuity/channels/{channel_id}", ok="deleted")


@router.get("/warnings")
async def warnings_fragment(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("continuity.view"))],
    channel: int | None = None,
) -> Response:
    """Reconnect warnings, loaded into the home page (for admins) and a channel's page."""
    workspace_id = _workspace_id(viewer)
    found: list[reconnect.Coverage] = []
    if channel is not None or viewer.can("workspace.update"):
        async with runtime_of(request).db.read() as session:
            found = [
                item
                for item in await reconnect.coverage(session, workspace_id, channel_id=channel)
                if item.warn
            ]
    return render(
        request,
        "continuity/_warnings.html",
        {"warnings": found, "single": channel is not None, "minimum": reconnect.MIN_RECONNECTORS},
    )
