"""Channel pages: the list with each channel's health, connecting RSS feeds and Mastodon
accounts (OAuth, or a pasted access token), editing, pausing, reconnecting and removing.

The domain work (sealing credentials, audit events) is in :mod:`allsang.channels`; these
routes check input, call the networks and render.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from babel.dates import format_timedelta
from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import func, select
from starlette.responses import Response

from allsang import channels, i18n
from allsang.connectors.base import ChannelContext, ConnectorError
from allsang.connectors.mastodon import MastodonConnector
from allsang.connectors.mastodon.auth import (
    OAuthApp,
    authorize_url,
    exchange_code,
    instance_host,
    instance_url,
    register_app,
)
from allsang.connectors.rss.client import fetch_feed
from allsang.db.models import Channel, Department, Message, QuarantinedItem
from allsang.db.types import utcnow
from allsang.ingest.health import ChannelHealth
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.templating import render
from allsang.web.viewer import Viewer, client_ip, require, runtime_of

router = APIRouter(prefix="/channels")

STATE_LABELS: dict[str, str] = {
    "active": i18n.N_("Active"),
    "paused": i18n.N_("Paused"),
    "reconnect_needed": i18n.N_("Reconnect needed"),
    "failing": i18n.N_("Failing"),
    "pending": i18n.N_("Not connected yet"),
}

NETWORK_LABELS: dict[str, str] = {
    "rss": "RSS/Atom",
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "x": "X",
    "email": i18n.N_("E-mail"),
    "replay": i18n.N_("Replay"),
}

FLASH: dict[str, str] = {
    "connected": i18n.N_("The channel is connected. New messages arrive within a few minutes."),
    "reconnected": i18n.N_("The channel is connected again."),
    "paused": i18n.N_("The channel is paused."),
    "resumed": i18n.N_("The channel is listening again."),
}

MAX_URL = 2048
MAX_TERMS = 50
# Feeds change slowly and publish no limits; every 15 minutes is polite and usual.
FEED_POLL_SECONDS = 900


@dataclass(frozen=True, slots=True)
class ChannelRow:
    channel: Channel
    state_label: str
    network_label: str
    webhook: bool
    messages: int
    lag: str
    token_expiry: str
    token_expired: bool


def _state_label(state: str) -> str:
    return i18n.gettext(STATE_LABELS.get(state, STATE_LABELS["failing"]))


def _network_label(network: str) -> str:
    label = NETWORK_LABELS.get(network)
    return i18n.gettext(label) if label else network


def _duration(delta: timedelta) -> str:
    return format_timedelta(delta, locale=i18n.current_locale(), threshold=1.1)


def _row(channel: Channel, messages: int) -> ChannelRow:
    health = ChannelHealth(
        id=channel.id,
        workspace_id=channel.workspace_id,
        name=channel.name,
        network=channel.network,
        state=channel.state,
        last_success_at=channel.last_success_at,
        last_error=channel.last_error,
        last_error_at=channel.last_error_at,
        last_item_at=channel.last_item_at,
        token_expires_at=channel.token_expires_at,
    )
    now = utcnow()
    lag = health.lag(now)
    expires = health.token_expires_in(now)
    return ChannelRow(
        channel=channel,
        state_label=_state_label(channel.state),
        network_label=_network_label(channel.network),
        webhook=channels.is_webhook(channel),
        messages=messages,
        lag="" if lag is None else _duration(lag),
        token_expiry="" if expires is None else _duration(abs(expires)),
        token_expired=expires is not None and expires.total_seconds() <= 0,
    )


def _flash(request: Request) -> dict[str, str]:
    ok = request.query_params.get("ok")
    return {"flash": i18n.gettext(FLASH[ok])} if ok in FLASH else {}


async def _message_counts(request: Request, workspace_id: int) -> dict[int, int]:
    async with runtime_of(request).db.read() as session:
        rows = await session.execute(
            select(Message.channel_id, func.count(Message.id))
            .where(Message.workspace_id == workspace_id, Message.channel_id.is_not(None))
            .group_by(Message.channel_id)
        )
        return {int(channel_id): int(count) for channel_id, count in rows}


@router.get("")
async def channel_list(
    request: Request, viewer: Annotated[Viewer, Depends(require("channel.view"))]
) -> Response:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    async with runtime_of(request).db.read() as session:
        rows = list(
            await session.scalars(
                select(Channel)
                .where(Channel.workspace_id == workspace_id)
                .order_by(func.lower(Channel.name), Channel.id)
            )
        )
        quarantined = await session.scalar(
            select(func.count(QuarantinedItem.id)).where(
                QuarantinedItem.workspace_id == workspace_id, QuarantinedItem.resolved_at.is_(None)
            )
        )
    counts = await _message_counts(request, workspace_id)
    return render(
        request,
        "channels/list.html",
        {
            "rows": [_row(channel, counts.get(channel.id, 0)) for channel in rows],
            "quarantined": int(quarantined or 0),
            "section": "team",
            **_flash(request),
        },
    )


# Connecting ----------------------------------------------------------------------------------


async def _connect_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "channels/connect.html",
        {"errors": errors or {}, "form": form or {}, "section": "team"},
        status_code=status_code,
    )


@router.get("/connect")
async def connect_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("channel.connect"))]
) -> Response:
    return await _connect_page(request)


def _valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return (
        len(url) <= MAX_URL
        and parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not any(ch.isspace() for ch in url)
    )


@router.post("/rss")
async def connect_rss(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("channel.connect"))],
    url: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    url, name = url.strip(), name.strip()
    form = {"rss_url": url, "rss_name": name}
    if not _valid_url(url):
        errors = {"rss_url": i18n.gettext("Enter the feed's full address, starting with https://.")}
        return await _connect_page(request, errors=errors, form=form, status_code=422)
    if len(name) > 200:
        errors = {"rss_name": i18n.gettext("Enter a name of at most 200 characters.")}
        return await _connect_page(request, errors=errors, form=form, status_code=422)
    try:
        feed = await fetch_feed(url, request_timeout=15.0)
    except ConnectorError as exc:
        message = i18n.gettext("This address did not give a feed: %(reason)s") % {"reason": exc}
        return await _connect_page(request, errors={"rss_url": message}, form=form, status_code=422)
    title = ""
    if feed is not None:
        title = str(feed.parsed.get("feed", {}).get("title") or "").strip()
    name = name or title[:200] or (urlsplit(url).hostname or url)
    async with runtime_of(request).db.write() as session:
        channel = await channels.create_channel(
            session,
            viewer.actor,
            network="rss",
            name=name,
            account=url,
            config={"url": url, "poll_seconds": FEED_POLL_SECONDS},
            ip=client_ip(request),
        )
    return redirect(f"/channels/{channel.id}", ok="connected")


def _base_url(request: Request) -> str:
    configured = runtime_of(request).settings.base_url
    return (configured or str(request.base_url)).rstrip("/")


def _callback_url(request: Request) -> str:
    return f"{_base_url(request)}/channels/mastodon/callback"


def _instance_error(exc: Exception) -> str:
    return i18n.gettext("The Mastodon server did not accept this: %(reason)s") % {"reason": exc}


@router.post("/mastodon")
async def connect_mastodon(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("channel.connect"))],
    instance: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    """Register Allsang on the instance, keep the app's secret sealed on a pending channel,
    and send the person to the instance to grant access."""
    instance, name = instance.strip(), name.strip()
    form = {"instance": instance, "mastodon_name": name}
    try:
        base = instance_url(instance)
    except ConnectorError:
        errors = {"instance": i18n.gettext("Enter the address of a Mastodon server.")}
        return await _connect_page(request, errors=errors, form=form, status_code=422)
    redirect_uri = _callback_url(request)
    try:
        app = await register_app(
            base,
            client_name="Allsang",
            redirect_uri=redirect_uri,
            website=_base_url(request),
            request_timeout=15.0,
        )
    except ConnectorError as exc:
        errors = {"instance": _instance_error(exc)}
        return await _connect_page(request, errors=errors, form=form, status_code=422)
    runtime = runtime_of(request)
    sealed = channels.seal_credentials(
        runtime.secrets, {"client_id": app.client_id, "client_secret": app.client_secret}
    )
    async with runtime.db.write() as session:
        channel = await channels.create_channel(
            session,
            viewer.actor,
            network="mastodon",
            name=name[:200] or instance_host(base),
            config={"instance": base},
            credentials=sealed,
            state="pending",
            ip=client_ip(request),
        )
        state = channels.begin_oauth(channel, viewer.actor, redirect_uri)
    return _to_instance(request, app, state)


def _to_instance(request: Request, app: OAuthApp, state: str) -> Response:
    """Send the person to the instance's consent page (see ``channels/authorize.html`` for
    why this is a page and not a redirect)."""
    return render(
        request,
        "channels/authorize.html",
        {
            "authorize_url": authorize_url(app, state=state),
            "host": instance_host(app.instance),
            "section": "team",
        },
    )


@router.get("/mastodon/callback")
async def mastodon_callback(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("channel.connect"))],
    state: Annotated[str, Query(max_length=200)] = "",
    code: Annotated[str, Query(max_length=2000)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Where the instance sends the person back: trade the code for a token, check it, and
    make the channel active."""
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    runtime = runtime_of(request)
    channel_id = channels.oauth_channel_id(state)
    async with runtime.db.read() as session:
        channel = (
            await channels.get_channel(session, workspace_id, channel_id) if channel_id else None
        )
    redirect_uri = channels.check_oauth(channel, viewer.actor, state) if channel else None
    if channel is None or not redirect_uri:
        raise PageError(
            400,
            i18n.gettext("This connection link is not valid any more. Start connecting again."),
        )
    if error or not code:
        raise PageError(400, i18n.gettext("The Mastodon server did not grant access."))
    credentials = channels.open_credentials(runtime.secrets, channel.credentials)
    base = str(channel.config.get("instance") or "")
    app = OAuthApp(
        instance=base,
        client_id=str(credentials.get("client_id") or ""),
        client_secret=str(credentials.get("client_secret") or ""),
        redirect_uri=redirect_uri,
    )
    try:
        token = await exchange_code(app, code, request_timeout=15.0)
        handle = await _verify_mastodon(channel.id, base, token)
    except ConnectorError as exc:
        raise PageError(400, _instance_error(exc)) from None
    sealed = channels.seal_credentials(runtime.secrets, {**credentials, "access_token": token})
    async with runtime.db.write() as session:
        fresh = await channels.get_channel(session, workspace_id, channel.id)
        if fresh is None or channels.check_oauth(fresh, viewer.actor, state) is None:
            raise PageError(409, i18n.gettext("This channel was changed meanwhile."))
        was_pending = fresh.state == "pending"
        await channels.store_credentials(
            session, viewer.actor, fresh, sealed, account=handle, ip=client_ip(request)
        )
    return redirect(f"/channels/{channel.id}", ok="connected" if was_pending else "reconnected")


async def _verify_mastodon(channel_id: int, base: str, token: str) -> str:
    connector = MastodonConnector(
        ChannelContext(
            channel_id=channel_id,
            account="",
            config={"instance": base, "timeout": 15.0},
            credentials={"access_token": token},
        )
    )
    return await connector.verify()


@router.post("/mastodon/token")
async def connect_mastodon_token(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("channel.connect"))],
    instance: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    """Connect with an access token made in the account's settings (Development → New
    application), as many administrators prefer."""
    instance, token, name = instance.strip(), token.strip(), name.strip()
    form = {"token_instance": instance, "token_name": name}
    try:
        base = instance_url(instance)
    except ConnectorError:
        errors = {"token_instance": i18n.gettext("Enter the address of a Mastodon server.")}
        return await _connect_page(request, errors=errors, form=form, status_code=422)
    if not token or len(token) > 500:
        errors = {"token": i18n.gettext("Paste the access token.")}
        return await _connect_page(request, errors=errors, form=form, status_code=422)
    try:
        handle = await _verify_mastodon(0, base, token)
    except ConnectorError as exc:
        errors = {"token": _instance_error(exc)}
        return await _connect_page(request, errors=errors, form=form, status_code=422)
    runtime = runtime_of(request)
    async with runtime.db.write() as session:
        channel = await channels.create_channel(
            session,
            viewer.actor,
            network="mastodon",
            name=name[:200] or handle,
            account=handle,
            config={"instance": base},
            credentials=channels.seal_credentials(runtime.secrets, {"access_token": token}),
            ip=client_ip(request),
        )
    return redirect(f"/channels/{channel.id}", ok="connected")


# One channel ---------------------------------------------------------------------------------


async def _load(request: Request, viewer: Viewer, channel_id: int) -> Channel:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    async with runtime_of(request).db.read() as session:
        channel = await channels.get_channel(session, workspace_id, channel_id)
    if channel is None:
        raise PageError(404, i18n.gettext("There is no such channel in this workspace."))
    return channel


async def _detail_page(
    request: Request,
    viewer: Viewer,
    channel: Channel,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    workspace_id = viewer.actor.workspace_id
    async with runtime_of(request).db.read() as session:
        departments = list(
            await session.scalars(
                select(Department)
                .where(Department.workspace_id == workspace_id)
                .order_by(func.lower(Department.name))
            )
        )
        messages = await session.scalar(
            select(func.count(Message.id)).where(Message.channel_id == channel.id)
        )
        quarantined = await session.scalar(
            select(func.count(QuarantinedItem.id)).where(
                QuarantinedItem.channel_id == channel.id, QuarantinedItem.resolved_at.is_(None)
            )
        )
    config = channel.config or {}
    return render(
        request,
        "channels/detail.html",
        {
            "row": _row(channel, int(messages or 0)),
            "departments": departments,
            "quarantined": int(quarantined or 0),
            "follows_terms": _follows_terms(channel),
            "hashtags": ", ".join(config.get("hashtags") or []),
            "keywords": ", ".join(config.get("keywords") or []),
            "errors": errors or {},
            "section": "team",
            **_flash(request),
        },
        status_code=status_code,
    )


@router.get("/{channel_id}")
async def channel_page(
    request: Request,
    channel_id: int,
    viewer: Annotated[Viewer, Depends(require("channel.view"))],
) -> Response:
    return await _detail_page(request, viewer, await _load(request, viewer, channel_id))


def _follows_terms(channel: Channel) -> bool:
    """Whether the settings form offers hashtags and keywords for this channel."""
    return channel.network == "mastodon" and not channels.is_webhook(channel)


def _terms(value: str) -> list[str]:
    """Comma- or line-separated terms, trimmed, without repeats, in the given order."""
    seen: dict[str, None] = {}
    for part in value.replace("\n", ",").split(","):
        term = part.strip()
        if term:
            seen.setdefault(term[:200], None)
    return list(seen)


@router.post("/{channel_id}")
async def update_channel(
    request: Request,
    channel_id: int,
    viewer: Annotated[Viewer, Depends(require("channel.update"))],
    name: Annotated[str, Form()] = "",
    department_id: Annotated[str, Form()] = "",
    hashtags: Annotated[str, Form()] = "",
    keywords: Annotated[str, Form()] = "",
) -> Response:
    channel = await _load(request, viewer, channel_id)
    name = name.strip()
    tags: list[str] | None = None
    words: list[str] | None = None
    if _follows_terms(channel):
        tags = [t.lstrip("#") for t in _terms(hashtags) if t.lstrip("#")]
        words = _terms(keywords)
    errors: dict[str, str] = {}
    if not name or len(name) > 200:
        errors["name"] = i18n.gettext("Enter a name of at most 200 characters.")
    if len(tags or []) > MAX_TERMS or len(words or []) > MAX_TERMS:
        errors["keywords"] = i18n.gettext("At most 50 hashtags and 50 keywords.")
    department: int | None = int(department_id) if department_id.isdigit() else None
    workspace_id = viewer.actor.workspace_id
    async with runtime_of(request).db.write() as session:
        if department is not None and not await session.scalar(
            select(Department.id).where(
                Department.id == department, Department.workspace_id == workspace_id
            )
        ):
            errors["department_id"] = i18n.gettext("Choose one of the departments in the list.")
        if not errors:
            row = await channels.get_channel(session, channel.workspace_id, channel.id)
            assert row is not None
            await channels.update_channel(
                session,
                viewer.actor,
                row,
                name=name,
                department_id=department,
                hashtags=tags,
                keywords=words,
                ip=client_ip(request),
            )
    if errors:
        return await _detail_page(request, viewer, channel, errors=errors, status_code=422)
    return redirect(f"/channels/{channel_id}", ok="saved")


async def _pause(request: Request, viewer: Viewer, channel_id: int, paused: bool) -> Response:
    channel = await _load(request, viewer, channel_id)
    async with runtime_of(request).db.write() as session:
        row = await channels.get_channel(session, channel.workspace_id, channel.id)
        assert row is not None
        await channels.set_paused(session, viewer.actor, row, paused, ip=client_ip(request))
    return redirect(f"/channels/{channel_id}", ok="paused" if paused else "resumed")


@router.post("/{channel_id}/pause")
async def pause_channel(
    request: Request,
    channel_id: int,
    viewer: Annotated[Viewer, Depends(require("channel.update"))],
) -> Response:
    return await _pause(request, viewer, channel_id, True)


@router.post("/{channel_id}/resume")
async def resume_channel(
    request: Request,
    channel_id: int,
    viewer: Annotated[Viewer, Depends(require("channel.update"))],
) -> Response:
    return await _pause(request, viewer, channel_id, False)


@router.post("/{channel_id}/reconnect")
async def reconnect_channel(
    request: Request,
    channel_id: int,
    viewer: Annotated[Viewer, Depends(require("channel.reconnect"))],
) -> Response:
    """Mastodon: grant access again on the instance (with the app registered before, or a
    new one). Other networks: listen again with the stored credentials."""
    channel = await _load(request, viewer, channel_id)
    runtime = runtime_of(request)
    if channel.network != "mastodon" or channels.is_webhook(channel):
        async with runtime.db.write() as session:
            row = await channels.get_channel(session, channel.workspace_id, channel.id)
            assert row is not None
            await channels.reactivate(session, viewer.actor, row, ip=client_ip(request))
        return redirect(f"/channels/{channel_id}", ok="reconnected")

    credentials = channels.open_credentials(runtime.secrets, channel.credentials)
    base = str(channel.config.get("instance") or "")
    redirect_uri = _callback_url(request)
    app_fields: dict[str, Any] = {}
    if credentials.get("client_id") and credentials.get("client_secret"):
        app = OAuthApp(
            instance=instance_url(base),
            client_id=str(credentials["client_id"]),
            client_secret=str(credentials["client_secret"]),
            redirect_uri=redirect_uri,
        )
    else:
        try:
            app = await register_app(
                base,
                client_name="Allsang",
                redirect_uri=redirect_uri,
                website=_base_url(request),
                request_timeout=15.0,
            )
        except ConnectorError as exc:
            raise PageError(400, _instance_error(exc)) from None
        app_fields = {"client_id": app.client_id, "client_secret": app.client_secret}
    async with runtime.db.write() as session:
        row = await channels.get_channel(session, channel.workspace_id, channel.id)
        assert row is not None
        if app_fields:
            row.credentials = channels.seal_credentials(
                runtime.secrets, {**credentials, **app_fields}
            )
        state = channels.begin_oauth(row, viewer.actor, redirect_uri)
    return _to_instance(request, app, state)


@router.post("/{channel_id}/delete")
async def delete_channel(
    request: Request,
    channel_id: int,
    viewer: Annotated[Viewer, Depends(require("channel.manage"))],
) -> Response:
    channel = await _load(request, viewer, channel_id)
    async with runtime_of(request).db.write() as session:
        row = await channels.get_channel(session, channel.workspace_id, channel.id)
        if row is not None:
            await channels.delete_channel(session, viewer.actor, row, ip=client_ip(request))
    return redirect("/channels", ok="deleted")
