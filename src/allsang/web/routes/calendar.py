"""The editorial calendar pages: month, week and list views of posts and traditional items,
moving entries (drag and drop, or the keyboard form beside each entry), traditional items,
iCalendar feed URLs, and employee advocacy (the share feed and who shared what).

All dates are drawn in the viewer's time zone (``i18n.current_timezone()``).
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.responses import Response

from allsang import i18n
from allsang.authz import ANONYMOUS, Forbidden
from allsang.connectors.limits import TooLong
from allsang.db.models import Channel, Department, Membership, Person
from allsang.db.models.calendar import ITEM_KINDS, ITEM_STATUSES, CalendarItem, ChannelOwner
from allsang.db.types import utcnow
from allsang.publishing import advocacy, ical, service
from allsang.publishing import calendar as cal
from allsang.publishing.states import PublishingError
from allsang.publishing.timing import to_local, to_utc
from allsang.web.errors import PageError
from allsang.web.routes import redirect, safe_next
from allsang.web.templating import render
from allsang.web.viewer import Viewer, require, runtime_of

router = APIRouter()

KIND_LABELS = {
    "post": i18n.N_("Social post"),
    "press_release": i18n.N_("Press release"),
    "newsletter": i18n.N_("Newsletter"),
    "event": i18n.N_("Event"),
    "web_article": i18n.N_("Web article"),
    "print": i18n.N_("Print"),
    "internal_news": i18n.N_("Internal news"),
}
STATUS_LABELS = {
    "idea": i18n.N_("Idea"),
    "planned": i18n.N_("Planned"),
    "in_progress": i18n.N_("In progress"),
    "ready": i18n.N_("Ready"),
    "done": i18n.N_("Done"),
    "cancelled": i18n.N_("Cancelled"),
    "draft": i18n.N_("Draft"),
    "in_review": i18n.N_("In review"),
    "approved": i18n.N_("Approved"),
    "scheduled": i18n.N_("Scheduled"),
    "publishing": i18n.N_("Publishing"),
    "published": i18n.N_("Published"),
    "failed": i18n.N_("Failed"),
    "outcome_unknown": i18n.N_("Outcome unknown"),
}
VIEWS = ("month", "week", "list")
CALENDAR_ERRORS = {
    "past": i18n.N_("An entry cannot be moved into the past."),
    "fixed": i18n.N_("This entry cannot be moved any more."),
    "invalid": i18n.N_("Choose a valid date and time."),
}


def labels(table: dict[str, str]) -> dict[str, str]:
    return {key: i18n.gettext(value) for key, value in table.items()}


def _workspace_id(viewer: Viewer) -> int:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    return workspace_id


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    in_month: bool
    entries: list[cal.Entry]


def _range(view: str, anchor: date) -> tuple[date, date]:
    """First and last-plus-one local day drawn by a view."""
    if view == "month":
        first = anchor.replace(day=1)
        start = first - timedelta(days=first.weekday())
        last = first.replace(day=monthrange(first.year, first.month)[1])
        end = last + timedelta(days=7 - last.weekday())
        return start, end
    if view == "week":
        start = anchor - timedelta(days=anchor.weekday())
        return start, start + timedelta(days=7)
    return anchor, anchor + timedelta(days=31)


def _local_midnight(day: date, zone_name: str) -> datetime:
    return to_utc(datetime.combine(day, time()), zone_name, on_gap="later", on_fold="earlier")


def _anchor(raw: str | None, zone_name: str) -> date:
    try:
        return date.fromisoformat(raw) if raw else to_local(utcnow(), zone_name).date()
    except ValueError:
        return to_local(utcnow(), zone_name).date()


def _filters(request: Request) -> cal.CalendarFilter:
    q = request.query_params
    status = q.get("status")
    return cal.CalendarFilter(
        department_id=_int(q.get("department")),
        campaign_id=_int(q.get("campaign")),
        channel_id=_int(q.get("channel")),
        status=status if status in STATUS_LABELS else None,
    )


async def _choices(request: Request, workspace_id: int) -> dict[str, object]:
    async with runtime_of(request).db.read() as session:
        departments = (
            await session.scalars(
                select(Department)
                .where(Department.workspace_id == workspace_id)
                .order_by(Department.name)
            )
        ).all()
        campaigns = await cal.campaigns(session, workspace_id)
        channels = await cal.channel_names(session, workspace_id)
        people = (
            await session.execute(
                select(Person.id, Person.name)
                .join(Membership, Membership.person_id == Person.id)
                .where(Membership.workspace_id == workspace_id)
                .order_by(Person.name)
            )
        ).all()
    return {
        "departments": departments,
        "campaigns": campaigns,
        "channels": channels,
        "people": dict(people),
    }


@router.get("/calendar")
async def calendar_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("calendar.view"))]
) -> Response:
    zone_name = i18n.current_timezone()
    view = request.query_params.get("view", "month")
    view = view if view in VIEWS else "month"
    anchor = _anchor(request.query_params.get("date"), zone_name)
    first, end = _range(view, anchor)
    filters = _filters(request)
    async with runtime_of(request).db.read() as session:
        found = await cal.entries(
            session,
            viewer.actor,
            _local_midnight(first, zone_name),
            _local_midnight(end, zone_name),
            filters,
        )
    by_day: dict[date, list[cal.Entry]] = {}
    for entry in found:
        by_day.setdefault(to_local(entry.starts_at, zone_name).date(), []).append(entry)
    days = [
        Day(first + timedelta(days=n), (first + timedelta(days=n)).month == anchor.month, [])
        for n in range((end - first).days)
    ]
    days = [Day(d.day, d.in_month or view != "month", by_day.get(d.day, [])) for d in days]
    if view == "month":
        previous = (anchor.replace(day=1) - timedelta(days=1)).replace(day=1)
        following = anchor.replace(day=28) + timedelta(days=4)
        following = following.replace(day=1)
    elif view == "week":
        previous, following = anchor - timedelta(days=7), anchor + timedelta(days=7)
    else:
        previous, following = anchor - timedelta(days=31), anchor + timedelta(days=31)
    query = {
        k: v
        for k, v in request.query_params.items()
        if k in ("department", "campaign", "channel", "status") and v
    }
    return render(
        request,
        "publishing/calendar.html",
        {
            "section": "publish",
            "view": view,
            "anchor": anchor,
            "weeks": [days[i : i + 7] for i in range(0, len(days), 7)],
            "days": days,
            "entries": found,
            "previous": previous,
            "following": following,
            "today": to_local(utcnow(), zone_name).date(),
            "filters": filters,
            "query": query,
            "zone_name": zone_name,
            "kind_labels": labels(KIND_LABELS),
            "status_labels": labels(STATUS_LABELS),
            "local": lambda instant: to_local(instant, zone_name),
            "movable": lambda entry: cal.can_move(viewer.actor, entry),
            "error": i18n.gettext(CALENDAR_ERRORS[e])
            if (e := request.query_params.get("error")) in CALENDAR_ERRORS
            else request.query_params.get("problem", "")[:300],
            **await _choices(request, _workspace_id(viewer)),
        },
    )


def _move_target(form: FormData, current: datetime, zone_name: str) -> datetime:
    """The new UTC start from the form: ``local`` (YYYY-MM-DDTHH:MM, the keyboard form) or
    ``day`` (YYYY-MM-DD, a drop on a day: keeps the time of day the viewer saw)."""
    local_raw = form.get("local")
    day_raw = form.get("day")
    if isinstance(local_raw, str) and local_raw:
        local = datetime.fromisoformat(local_raw)
        return to_utc(local.replace(tzinfo=None), zone_name, on_gap="later", on_fold="earlier")
    if isinstance(day_raw, str) and day_raw:
        return cal.shifted_instant(current, date.fromisoformat(day_raw), None, zone_name)
    raise ValueError("no target")


@router.post("/calendar/move")
async def move_entry(
    request: Request, viewer: Annotated[Viewer, Depends(require("calendar.edit"))]
) -> Response:
    """Move an entry. A fetch from the drag-and-drop script gets 204 or 409 with the reason as
    text; a form post is redirected back to the calendar (with the reason)."""
    form = await request.form()
    ref = str(form.get("ref", ""))
    back = safe_next(str(form.get("next", "")), "/calendar")
    scripted = request.headers.get("x-requested-with") == "fetch"
    zone_name = i18n.current_timezone()
    problem = ""
    runtime = runtime_of(request)
    try:
        async with runtime.db.read() as session:
            kind, _sep, raw = ref.partition("-")
            if kind == "item" and raw.isdigit():
                current = (await cal.get_item(session, viewer.actor, int(raw))).starts_at
            else:
                post = await service.get_post(
                    session, viewer.actor, int(raw) if raw.isdigit() else 0
                )
                current = post.scheduled_at or utcnow()
        target = _move_target(form, current, zone_name)
        async with runtime.db.write() as session:
            await cal.move(session, viewer.actor, ref, target)
    except ValueError:
        problem = i18n.gettext(CALENDAR_ERRORS["invalid"])
    except cal.CalendarError as exc:
        reason = CALENDAR_ERRORS["past"] if "past" in str(exc) else CALENDAR_ERRORS["fixed"]
        problem = i18n.gettext(reason)
    except PublishingError as exc:
        problem = str(exc)
    if scripted:
        return Response(problem, status_code=409 if problem else 204, media_type="text/plain")
    if problem:
        joiner = "&" if "?" in back else "?"
        return redirect(f"{back}{joiner}{urlencode({'problem': problem})}")
    return redirect(back, ok="saved")


@router.post("/calendar/campaigns")
async def create_campaign(
    request: Request, viewer: Annotated[Viewer, Depends(require("campaign.manage"))]
) -> Response:
    form = await request.form()
    try:
        async with runtime_of(request).db.write() as session:
            campaign = await service.create_campaign(
                session,
                viewer.actor,
                str(form.get("name", ""))[:200],
                department_id=_int(form.get("department")),
            )
    except PublishingError:
        problem = i18n.gettext("Enter a name no other campaign has.")
        return redirect(f"/calendar?{urlencode({'problem': problem})}")
    return redirect(f"/calendar?campaign={campaign.id}", ok="created")


# --- traditional items ----------------------------------------------------------------------


def _item_fields(form: FormData, zone_name: str) -> cal.ItemFields:
    def text(name: str) -> str:
        value = form.get(name, "")
        return value.strip()[:5000] if isinstance(value, str) else ""

    all_day = bool(form.get("all_day"))
    starts = text("starts")
    ends = text("ends")
    starts_local = datetime.fromisoformat(starts)
    ends_local = datetime.fromisoformat(ends) if ends else None
    return cal.ItemFields(
        kind=text("kind"),
        title=text("title"),
        description=text("description"),
        status=text("status") or "planned",
        starts_local=starts_local,
        ends_local=ends_local,
        all_day=all_day,
        timezone=zone_name,
        owner_id=_int(form.get("owner")),
        department_id=_int(form.get("department")),
        campaign_id=_int(form.get("campaign")),
    )


async def _item_page(
    request: Request,
    viewer: Viewer,
    item: CalendarItem | None,
    *,
    error: str = "",
    status_code: int = 200,
) -> Response:
    zone_name = i18n.current_timezone()
    return render(
        request,
        "publishing/item.html",
        {
            "section": "publish",
            "item": item,
            "error": error,
            "zone_name": zone_name,
            "kinds": ITEM_KINDS,
            "statuses": ITEM_STATUSES,
            "kind_labels": labels(KIND_LABELS),
            "status_labels": labels(STATUS_LABELS),
            "local": lambda instant: to_local(instant, zone_name) if instant else None,
            **await _choices(request, _workspace_id(viewer)),
        },
        status_code=status_code,
    )


@router.get("/calendar/items/new")
async def new_item(
    request: Request, viewer: Annotated[Viewer, Depends(require("calendar.edit"))]
) -> Response:
    return await _item_page(request, viewer, None)


@router.post("/calendar/items/new")
async def create_item(
    request: Request, viewer: Annotated[Viewer, Depends(require("calendar.edit"))]
) -> Response:
    form = await request.form()
    try:
        fields = _item_fields(form, i18n.current_timezone())
        async with runtime_of(request).db.write() as session:
            item = await cal.create_item(session, viewer.actor, fields)
    except (ValueError, PublishingError):
        return await _item_page(
            request,
            viewer,
            None,
            error=i18n.gettext("Enter a title, a kind and a valid start."),
            status_code=422,
        )
    local = to_local(item.starts_at, i18n.current_timezone()).date()
    return redirect(f"/calendar?date={local.isoformat()}", ok="created")


@router.get("/calendar/items/{item_id}")
async def edit_item(
    request: Request, item_id: int, viewer: Annotated[Viewer, Depends(require("calendar.view"))]
) -> Response:
    async with runtime_of(request).db.read() as session:
        try:
            item = await cal.get_item(session, viewer.actor, item_id)
        except PublishingError:
            raise PageError(404, i18n.gettext("There is no such calendar entry.")) from None
    return await _item_page(request, viewer, item)


@router.post("/calendar/items/{item_id}")
async def update_item(
    request: Request, item_id: int, viewer: Annotated[Viewer, Depends(require("calendar.edit"))]
) -> Response:
    form = await request.form()
    try:
        async with runtime_of(request).db.write() as session:
            if form.get("delete"):
                await cal.delete_item(session, viewer.actor, item_id)
                return redirect("/calendar", ok="deleted")
            item = await cal.update_item(
                session, viewer.actor, item_id, _item_fields(form, i18n.current_timezone())
            )
    except (ValueError, cal.CalendarError):
        return await _item_page(
            request,
            viewer,
            None,
            error=i18n.gettext("Enter a title, a kind and a valid start."),
            status_code=422,
        )
    except PublishingError:
        raise PageError(404, i18n.gettext("There is no such calendar entry.")) from None
    return redirect(f"/calendar/items/{item.id}", ok="saved")


# --- iCalendar feeds ------------------------------------------------------------------------


@router.get("/calendar/feeds")
async def feeds_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("calendar.feed"))]
) -> Response:
    async with runtime_of(request).db.read() as session:
        feeds = await ical.my_feeds(session, viewer.actor)
    return render(
        request,
        "publishing/feeds.html",
        {
            "section": "publish",
            "feeds": feeds,
            "new_url": "",
            **await _choices(request, _workspace_id(viewer)),
        },
    )


@router.post("/calendar/feeds")
async def create_feed(
    request: Request, viewer: Annotated[Viewer, Depends(require("calendar.feed"))]
) -> Response:
    form = await request.form()
    scope = str(form.get("scope", ""))
    scope_id = viewer.actor.person_id if scope == "person" else _int(form.get(f"{scope}_id"))
    try:
        async with runtime_of(request).db.write() as session:
            token, _feed = await ical.create_feed(session, viewer.actor, scope, scope_id or 0)
    except PublishingError:
        raise PageError(422, i18n.gettext("Choose what the feed shows.")) from None
    # The URL is shown once (only its hash is stored): render it, never redirect with it.
    async with runtime_of(request).db.read() as session:
        feeds = await ical.my_feeds(session, viewer.actor)
    return render(
        request,
        "publishing/feeds.html",
        {
            "section": "publish",
            "feeds": feeds,
            "new_url": f"{str(request.base_url).rstrip('/')}/calendar/feed/{token}.ics",
            **await _choices(request, _workspace_id(viewer)),
        },
    )


@router.post("/calendar/feeds/{feed_id}/revoke")
async def revoke_feed(
    request: Request, feed_id: int, viewer: Annotated[Viewer, Depends(require("calendar.feed"))]
) -> Response:
    try:
        async with runtime_of(request).db.write() as session:
            await ical.revoke_feed(session, viewer.actor, feed_id)
    except PublishingError:
        raise PageError(404, i18n.gettext("There is no such feed.")) from None
    return redirect("/calendar/feeds", ok="revoked")


async def _feed_reader(request: Request, token: str) -> ical.CalendarFeed:
    """The feed named by the secret in the URL; an unknown or revoked one is treated like an
    anonymous visitor (sent to log in), as every other non-public page."""
    async with runtime_of(request).db.read() as session:
        feed = await ical.resolve_feed(session, token.removesuffix(".ics"))
    if feed is None:
        raise Forbidden(ANONYMOUS, "calendar.feed")
    return feed


_feed_reader.action = "calendar.feed"  # type: ignore[attr-defined]


@router.get("/calendar/feed/{token}")
async def feed_ics(
    request: Request, feed: Annotated[ical.CalendarFeed, Depends(_feed_reader)]
) -> Response:
    async with runtime_of(request).db.read() as session:
        body = await ical.feed_ics(session, feed)
    if feed.last_used_at is None or utcnow() - feed.last_used_at > timedelta(hours=1):
        async with runtime_of(request).db.write() as session:
            row = await session.get(ical.CalendarFeed, feed.id)
            if row is not None:
                row.last_used_at = datetime.now(UTC)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )


# --- employee advocacy ----------------------------------------------------------------------


@router.get("/advocacy")
async def advocacy_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("advocacy.share"))]
) -> Response:
    async with runtime_of(request).db.read() as session:
        posts = await advocacy.feed(session, viewer.actor)
        channels = await advocacy.own_channels(session, viewer.actor)
        done = await advocacy.shared_by(session, viewer.actor)
    return render(
        request,
        "publishing/advocacy.html",
        {
            "section": "publish",
            "posts": posts,
            "own_channels": channels,
            "done": done,
            "problem": request.query_params.get("problem", "")[:300],
        },
    )


@router.post("/advocacy/{post_id}/share")
async def share_post(
    request: Request, post_id: int, viewer: Annotated[Viewer, Depends(require("advocacy.share"))]
) -> Response:
    form = await request.form()
    text = form.get("text")
    try:
        async with runtime_of(request).db.write() as session:
            await advocacy.share(
                session,
                viewer.actor,
                post_id,
                _int(form.get("channel")) or 0,
                text=text if isinstance(text, str) else None,
            )
    except TooLong:
        problem = i18n.gettext("The text is too long for that network.")
        return redirect(f"/advocacy?{urlencode({'problem': problem})}")
    except PublishingError as exc:
        return redirect(f"/advocacy?{urlencode({'problem': str(exc)})}")
    return redirect("/advocacy", ok="saved")


@router.get("/advocacy/shares")
async def shares_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("advocacy.manage"))]
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.read() as session:
        rows = await advocacy.who_shared(session, viewer.actor)
        channels = (
            await session.execute(
                select(Channel, ChannelOwner.person_id)
                .outerjoin(ChannelOwner, ChannelOwner.channel_id == Channel.id)
                .where(Channel.workspace_id == workspace_id)
                .order_by(Channel.name)
            )
        ).all()
    return render(
        request,
        "publishing/shares.html",
        {
            "section": "publish",
            "rows": rows,
            "owned_channels": channels,
            "status_labels": labels(STATUS_LABELS),
            **await _choices(request, workspace_id),
        },
    )


@router.post("/advocacy/channels/{channel_id}")
async def set_owner(
    request: Request,
    channel_id: int,
    viewer: Annotated[Viewer, Depends(require("advocacy.manage"))],
) -> Response:
    form = await request.form()
    try:
        async with runtime_of(request).db.write() as session:
            await advocacy.set_channel_owner(
                session, viewer.actor, channel_id, _int(form.get("person"))
            )
    except PublishingError:
        raise PageError(404, i18n.gettext("There is no such channel.")) from None
    return redirect("/advocacy/shares", ok="saved")


@router.post("/advocacy/{post_id}/ready")
async def set_ready(
    request: Request, post_id: int, viewer: Annotated[Viewer, Depends(require("advocacy.manage"))]
) -> Response:
    form = await request.form()
    try:
        async with runtime_of(request).db.write() as session:
            await advocacy.set_share_ready(session, viewer.actor, post_id, form.get("ready") == "1")
    except PublishingError as exc:
        raise PageError(409, str(exc)) from None
    return redirect(safe_next(str(form.get("next", "")), f"/publish/{post_id}"), ok="saved")
