"""Alerts in the app: the workspace's alerts (``/alerts``, viewers and up), a count of the last
24 hours for the header, and the alert settings (``/alerts/settings``, admins).

The settings page never shows a stored Apprise URL: URLs carry webhook tokens and passwords,
so once saved they are listed masked (:func:`mask_url`) and can only be removed or added to.
A saved URL is removed by its position *and* its mask, so a list changed meanwhile by someone
else is refused rather than losing the wrong URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

import apprise
from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from allsang import audit, i18n
from allsang.db.models import Alert, Channel, ListeningQuery, Workspace
from allsang.db.types import utcnow
from allsang.ingest.health import RECONNECT_JOB
from allsang.listening import alerts
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.templating import render
from allsang.web.viewer import Viewer, client_ip, require, runtime_of

router = APIRouter(prefix="/alerts")

PAGE_SIZE = 50
RECENT = timedelta(hours=24)
MAX_URLS = 20
MAX_URL_LENGTH = 2000
# A second click on "send a test alert" within this window is the same alert (deduplicated by
# raise_alert like any other), yet an admin who fixed a URL can try again a minute later.
TEST_WINDOW = timedelta(minutes=1)
TEST_KIND = "test"

STATUS_LABELS: dict[str, str] = {
    "pending": i18n.N_("Pending"),
    "held": i18n.N_("Held for quiet hours"),
    "sent": i18n.N_("Sent"),
    "failed": i18n.N_("Failed"),
    "summarised": i18n.N_("Sent in a summary"),
}

KIND_LABELS: dict[str, str] = {
    "query": i18n.N_("Query spike"),
    "term": i18n.N_("Term spike"),
    "hashtag": i18n.N_("Hashtag spike"),
    "channel": i18n.N_("Channel needs reconnecting"),
    "test": i18n.N_("Test alert"),
}

_HASHTAG_KEY = "term:#"
_TIME = re.compile(r"\d{2}:\d{2}(:\d{2})?")


def _kind_condition(kind: str) -> ColumnElement[bool]:
    """The rows of a kind as the page names it (hashtags are term spikes keyed ``term:#…``)."""
    if kind == "query":
        return Alert.kind == "query_spike"
    if kind == "term":
        return and_(Alert.kind == "term_spike", ~Alert.key.startswith(_HASHTAG_KEY))
    if kind == "hashtag":
        return and_(Alert.kind == "term_spike", Alert.key.startswith(_HASHTAG_KEY))
    if kind == "channel":
        return Alert.kind == RECONNECT_JOB
    return Alert.kind == TEST_KIND


def kind_of(alert: Alert) -> str | None:
    """The page's name for the alert's kind, or None for a kind this page does not know."""
    if alert.kind == "query_spike":
        return "query"
    if alert.kind == "term_spike":
        return "hashtag" if alert.key.startswith(_HASHTAG_KEY) else "term"
    if alert.kind == RECONNECT_JOB:
        return "channel"
    if alert.kind == TEST_KIND:
        return "test"
    return None


def mask_url(url: str) -> str:
    """What may be shown of a stored Apprise URL: its scheme and Apprise's privacy-masked
    host part; the path and query (where webhook tokens live) become ``…``."""
    target = apprise.Apprise.instantiate(url)
    shown = target.url(privacy=True) if target is not None else url
    parts = urlsplit(shown)
    if target is None or not parts.scheme:
        return f"{url.split(':', 1)[0][:20]}://…"
    netloc = parts.netloc
    if "@" in netloc:
        user, _at, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:****@{host}" if ":" in user else netloc
    rest = "/…" if parts.path.strip("/") or parts.fragment else ""
    return f"{parts.scheme}://{netloc}{rest}"


@dataclass(frozen=True, slots=True)
class AlertRow:
    alert: Alert
    kind: str | None
    link: str | None
    link_label: str


def _workspace_id(viewer: Viewer) -> int:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    return workspace_id


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def _names(
    session: AsyncSession,
    model: type[ListeningQuery] | type[Channel],
    workspace_id: int,
    ids: set[int],
) -> dict[int, str]:
    """Names of the rows of ``model`` among ``ids`` that still exist in the workspace."""
    if not ids:
        return {}
    rows = await session.execute(
        select(model.id, model.name).where(model.workspace_id == workspace_id, model.id.in_(ids))
    )
    return {row_id: name for row_id, name in rows}


# --- the list -------------------------------------------------------------------------------


@router.get("")
async def alerts_page(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("alerts.view"))],
    kind: str = "",
    status: str = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    test: str = "",
) -> Response:
    if kind not in ("", *KIND_LABELS) or status not in ("", *STATUS_LABELS):
        raise PageError(404, i18n.gettext("There is no such alert filter."))
    workspace_id = _workspace_id(viewer)
    statement = select(Alert).where(Alert.workspace_id == workspace_id)
    if kind:
        statement = statement.where(_kind_condition(kind))
    if status:
        statement = statement.where(Alert.status == status)
    async with runtime_of(request).db.read() as session:
        found = list(
            await session.scalars(
                statement.order_by(Alert.created_at.desc(), Alert.id.desc())
                .limit(PAGE_SIZE + 1)
                .offset((page - 1) * PAGE_SIZE)
            )
        )
        shown = found[:PAGE_SIZE]
        # Links only to what still exists: a deleted query or channel keeps its alerts.
        query_ids = {q for a in shown if (q := _int((a.data or {}).get("query_id")))}
        channel_ids = {c for a in shown if (c := _int((a.data or {}).get("channel_id")))}
        queries = await _names(session, ListeningQuery, workspace_id, query_ids)
        channels = await _names(session, Channel, workspace_id, channel_ids)
    rows = []
    for alert in shown:
        data = alert.data or {}
        link, label = None, ""
        query_id, channel_id = _int(data.get("query_id")), _int(data.get("channel_id"))
        if query_id in queries:
            link, label = f"/listening/{query_id}", queries[query_id]
        elif channel_id in channels:
            link, label = f"/channels/{channel_id}", channels[channel_id]
        rows.append(AlertRow(alert, kind_of(alert), link, label))
    return render(
        request,
        "alerts/index.html",
        {
            "rows": rows,
            "kind": kind,
            "status": status,
            "kinds": KIND_LABELS,
            "statuses": STATUS_LABELS,
            "page": page,
            "has_next": len(found) > PAGE_SIZE,
            "test": test if test in ("queued", "duplicate") else "",
            "section": "alerts",
        },
    )


@router.get("/recent")
async def recent_count(
    request: Request, viewer: Annotated[Viewer, Depends(require("alerts.view"))]
) -> Response:
    """The header's count of alerts raised in the last 24 hours (an htmx fragment)."""
    async with runtime_of(request).db.read() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(
                Alert.workspace_id == _workspace_id(viewer),
                Alert.created_at >= utcnow() - RECENT,
            )
        )
    return render(request, "alerts/_recent.html", {"count": count or 0})


# --- settings -------------------------------------------------------------------------------


def _clock(value: time | None) -> str:
    return value.strftime("%H:%M") if value is not None else ""


def _settings_page(
    request: Request,
    workspace: Workspace,
    settings: alerts.AlertSettings,
    *,
    urls: str = "",
    quiet_from: str | None = None,
    quiet_to: str | None = None,
    url_problems: list[str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "alerts/settings.html",
        {
            "saved": [(n, mask_url(url)) for n, url in enumerate(settings.urls)],
            "urls": urls,
            "quiet_from": _clock(settings.quiet_start) if quiet_from is None else quiet_from,
            "quiet_to": _clock(settings.quiet_end) if quiet_to is None else quiet_to,
            "timezone": workspace.timezone,
            "url_problems": url_problems or [],
            "errors": errors or {},
            "max_urls": MAX_URLS,
            "section": "alerts",
        },
        status_code=status_code,
    )


async def _workspace(session: AsyncSession, viewer: Viewer) -> Workspace:
    workspace = await session.get(Workspace, _workspace_id(viewer))
    assert workspace is not None
    return workspace


def url_problems(lines: list[tuple[int, str]]) -> list[str]:
    """Why each wrong line (numbered from 1) cannot be used; empty when all are usable."""
    problems = []
    for number, url in lines:
        if len(url) > MAX_URL_LENGTH:
            problems.append(
                i18n.gettext("Line %(line)s is longer than %(max)s characters.")
                % {"line": number, "max": MAX_URL_LENGTH}
            )
        elif "://" not in url:
            problems.append(
                i18n.gettext(
                    "Line %(line)s is not a URL: it needs a scheme such as json:// or mailto://."
                )
                % {"line": number}
            )
        elif apprise.Apprise.instantiate(url) is None:
            problems.append(
                i18n.gettext(
                    "Line %(line)s (%(scheme)s://…) is not an Apprise URL Allsang can use: "
                    "check the service's address format in Apprise's documentation."
                )
                % {"line": number, "scheme": url.split("://", 1)[0][:20]}
            )
    return problems


def _parse_quiet(start: str, end: str) -> tuple[time | None, time | None, str | None]:
    """Quiet hours from the form: both times or neither; returns (start, end, problem)."""
    start, end = start.strip(), end.strip()
    if not start and not end:
        return None, None, None
    try:
        if not (_TIME.fullmatch(start) and _TIME.fullmatch(end)):
            raise ValueError(start, end)
        begins, ends = time.fromisoformat(start[:5]), time.fromisoformat(end[:5])
    except ValueError:
        return None, None, i18n.gettext("Fill in both times, or neither for no quiet hours.")
    if begins == ends:
        return None, None, i18n.gettext("Quiet hours must end at another time than they start.")
    return begins, ends, None


@router.get("/settings")
async def settings_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("alerts.manage"))]
) -> Response:
    runtime = runtime_of(request)
    async with runtime.db.read() as session:
        workspace = await _workspace(session, viewer)
    return _settings_page(request, workspace, alerts.load_settings(workspace, runtime.secrets))


@router.post("/settings")
async def update_settings(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("alerts.manage"))],
    urls: Annotated[str, Form(max_length=MAX_URLS * (MAX_URL_LENGTH + 2))] = "",
    quiet_from: Annotated[str, Form(max_length=20)] = "",
    quiet_to: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Add the URLs typed (one per line) to the saved ones and set the quiet hours."""
    runtime = runtime_of(request)
    lines = [(n, line.strip()) for n, line in enumerate(urls.splitlines(), 1) if line.strip()]
    problems = url_problems(lines)
    start, end, quiet_problem = _parse_quiet(quiet_from, quiet_to)
    async with runtime.db.write() as session:
        workspace = await _workspace(session, viewer)
        current = alerts.load_settings(workspace, runtime.secrets)
        added = list(dict.fromkeys(url for _n, url in lines if url not in current.urls))
        errors = {"quiet": quiet_problem} if quiet_problem else {}
        if not problems and len(current.urls) + len(added) > MAX_URLS:
            problems = [
                i18n.gettext("At most %(max)s URLs can be saved; remove some first.")
                % {"max": MAX_URLS}
            ]
        if problems or errors:
            # What was just typed goes back into the form so it can be corrected; the page is
            # never cached (SecurityHeaders) and saved URLs are still shown masked only.
            return _settings_page(
                request,
                workspace,
                current,
                urls=urls,
                quiet_from=quiet_from,
                quiet_to=quiet_to,
                url_problems=problems,
                errors=errors,
                status_code=422,
            )
        new = alerts.AlertSettings(current.urls + tuple(added), start, end)
        if new != current:
            alerts.store_settings(workspace, runtime.secrets, new)
            audit.record(
                session,
                viewer.actor,
                "alerts.settings.update",
                "workspace",
                workspace.id,
                ip=client_ip(request),
                added=[mask_url(url) for url in added],
                quiet_hours=f"{_clock(start)}–{_clock(end)}" if start else None,
            )
    return redirect("/alerts/settings", ok="saved")


@router.post("/settings/urls/remove")
async def remove_url(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("alerts.manage"))],
    index: Annotated[int, Form(ge=0, lt=MAX_URLS)] = 0,
    masked: Annotated[str, Form(max_length=MAX_URL_LENGTH)] = "",
) -> Response:
    runtime = runtime_of(request)
    async with runtime.db.write() as session:
        workspace = await _workspace(session, viewer)
        current = alerts.load_settings(workspace, runtime.secrets)
        if index >= len(current.urls) or mask_url(current.urls[index]) != masked:
            raise PageError(
                409,
                i18n.gettext("The list of URLs changed meanwhile. Reload the page and try again."),
            )
        urls = current.urls[:index] + current.urls[index + 1 :]
        alerts.store_settings(
            workspace,
            runtime.secrets,
            alerts.AlertSettings(urls, current.quiet_start, current.quiet_end),
        )
        audit.record(
            session,
            viewer.actor,
            "alerts.url.remove",
            "workspace",
            workspace.id,
            ip=client_ip(request),
            removed=masked,
        )
    return redirect("/alerts/settings", ok="deleted")


@router.post("/settings/test")
async def send_test_alert(
    request: Request, viewer: Annotated[Viewer, Depends(require("alerts.manage"))]
) -> Response:
    """Raise a real alert of kind ``test``: stored, deduplicated, held in quiet hours and
    delivered by the ``listening.alert`` job like any other."""
    runtime = runtime_of(request)
    name = viewer.person.name if viewer.person else viewer.actor.label
    async with runtime.db.write() as session:
        workspace = await _workspace(session, viewer)
        alert = await alerts.raise_alert(
            session,
            workspace,
            alerts.load_settings(workspace, runtime.secrets),
            key="test",
            kind=TEST_KIND,
            title=i18n.gettext("Test alert from Allsang"),
            body=i18n.gettext("%(name)s sent this from the alert settings: alerts reach you.")
            % {"name": name},
            data={"person_id": viewer.actor.person_id},
            window=TEST_WINDOW,
        )
        if alert is not None:
            audit.record(
                session, viewer.actor, "alerts.test", "alert", alert.id, ip=client_ip(request)
            )
    return redirect(f"/alerts?test={'queued' if alert is not None else 'duplicate'}")
