"""Wall admin pages: the list of screens, a screen's settings (sources, rules, layout, colours),
its display token (shown once after rotating), and the moderation queue with a live preview.

Queue actions are htmx POSTs that answer with the item's new row; every change is audited and
followed by a hint to open screens.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from allsang import audit, i18n
from allsang.db.models import Channel, ListeningQuery, Wall
from allsang.live import open_broadcast
from allsang.wall import media, service
from allsang.wall.rules import Rule
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.routes.display import MAX_ITEMS, logo_src
from allsang.web.templating import render
from allsang.web.viewer import Viewer, client_ip, require, runtime_of

router = APIRouter(prefix="/walls")

QUEUE_SIZE = 100
LANGUAGE_CHOICES = ("sv", "no", "da", "fi", "en")
QUEUE_ACTIONS = ("approve", "reject", "pin", "ban")
LAYOUT_LABELS = {
    "grid": i18n.N_("Grid"),
    "ticker": i18n.N_("Ticker"),
    "spotlight": i18n.N_("Spotlight"),
}


def _layout_labels() -> dict[str, str]:
    return {key: i18n.gettext(label) for key, label in LAYOUT_LABELS.items()}


FIELD_ERRORS: dict[str, str] = {
    "name": i18n.N_("Enter a name of at most 200 characters that no other wall has."),
    "title": i18n.N_("Enter a title of at most 200 characters."),
    "hashtag": i18n.N_("Enter one hashtag of letters, digits and underscores."),
    "layout": i18n.N_("Choose a layout."),
    "moderation": i18n.N_("Choose how posts are moderated."),
    "background": i18n.N_("Enter a colour as #rrggbb."),
    "foreground": i18n.N_("Enter a colour as #rrggbb."),
    "accent": i18n.N_("Enter a colour as #rrggbb."),
    "event_url": i18n.N_("Enter an address starting with https:// or http://."),
    "logo_url": i18n.N_("Enter an address starting with https:// or http://."),
    "logo_file": i18n.N_("Upload a PNG, JPEG, GIF or WebP image of at most 2 MB."),
    "logo_fetch": i18n.N_(
        "The logo could not be fetched: the address must give a PNG, JPEG, GIF or WebP image "
        "of at most 2 MB from a public server."
    ),
    "rules": i18n.N_("Enter numbers for the minimum sentiment (−1 to 1) and account age."),
}


def _workspace_id(viewer: Viewer) -> int:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    return workspace_id


async def _load(request: Request, viewer: Viewer, wall_id: int) -> Wall:
    async with runtime_of(request).db.read() as session:
        wall = await service.get_wall(session, _workspace_id(viewer), wall_id)
    if wall is None:
        raise PageError(404, i18n.gettext("There is no such wall."))
    return wall


async def _hint(request: Request, wall_id: int) -> None:
    """Wake the wall's open screens (after the change committed)."""
    await service.publish(open_broadcast(runtime_of(request).settings.broadcast_url), wall_id)


@router.get("")
async def walls_home(
    request: Request, viewer: Annotated[Viewer, Depends(require("wall.view"))]
) -> Response:
    async with runtime_of(request).db.read() as session:
        walls = await service.list_walls(session, _workspace_id(viewer))
    return render(
        request,
        "walls/index.html",
        {"walls": walls, "layout_labels": _layout_labels(), "section": "walls"},
    )


# --- settings -------------------------------------------------------------------------------


def _fields(form: FormData) -> service.WallFields:
    def text(name: str, default: str = "") -> str:
        value = form.get(name, default)
        return value[:2000] if isinstance(value, str) else default

    return service.WallFields(
        name=text("name"),
        title=text("title"),
        hashtag=text("hashtag"),
        event_url=text("event_url"),
        layout=text("layout", "grid"),
        background=text("background", "#10162f"),
        foreground=text("foreground", "#ffffff"),
        accent=text("accent", "#ffcc33"),
        logo_url=text("logo_url"),
        moderation=text("moderation", "manual"),
    )


def _ids(form: FormData, name: str) -> list[int]:
    return [int(v) for v in form.getlist(name) if isinstance(v, str) and v.isdigit()]


def _lines(value: object) -> list[str]:
    if not isinstance(value, str):
        return []
    return [line.strip() for line in value.replace(",", "\n").splitlines() if line.strip()][:500]


def _sources(form: FormData, queries: set[int], channels: set[int]) -> list[service.Source]:
    sources = [service.Source("query", query_id=i) for i in _ids(form, "query") if i in queries]
    sources += [
        service.Source("channel", channel_id=i) for i in _ids(form, "channel") if i in channels
    ]
    sources += [
        service.Source("hashtag", hashtag=tag)
        for tag in {service.normalise_hashtag(t) for t in _lines(form.get("hashtags"))}
        if tag
    ]
    if form.get("own"):
        sources.append(service.Source("own"))
    return sources


def _rules(form: FormData) -> list[Rule]:
    rules: list[Rule] = []
    sentiment = form.get("min_sentiment")
    if isinstance(sentiment, str) and sentiment.strip():
        try:
            score = float(sentiment.replace("−", "-").replace(",", "."))
        except ValueError:
            raise service.InvalidWall("rules") from None
        if not -1 <= score <= 1:
            raise service.InvalidWall("rules")
        rules.append(Rule("min_sentiment", {"score": score}))
    languages = [code for code in LANGUAGE_CHOICES if code in form.getlist("languages")]
    if languages:
        rules.append(Rule("languages", {"codes": languages}))
    words = _lines(form.get("blocklist"))
    if words:
        rules.append(Rule("blocklist", {"words": words}))
    if form.get("media_only"):
        rules.append(Rule("media_only"))
    if form.get("known_authors"):
        rules.append(Rule("known_authors", {"handles": _lines(form.get("known_handles"))}))
    age = form.get("min_account_age")
    if isinstance(age, str) and age.strip():
        if not age.strip().isdigit():
            raise service.InvalidWall("rules")
        rules.append(Rule("min_account_age", {"days": int(age)}))
    return rules


def _rule_values(rules: list[Rule]) -> dict[str, object]:
    by_kind = {r.kind: r.value for r in rules}
    return {
        "min_sentiment": by_kind.get("min_sentiment", {}).get("score", ""),
        "languages": by_kind.get("languages", {}).get("codes", []),
        "blocklist": "\n".join(by_kind.get("blocklist", {}).get("words", [])),
        "media_only": "media_only" in by_kind,
        "known_authors": "known_authors" in by_kind,
        "known_handles": "\n".join(by_kind.get("known_authors", {}).get("handles", [])),
        "min_account_age": by_kind.get("min_account_age", {}).get("days", ""),
    }


async def _choices(request: Request, workspace_id: int) -> tuple[list[object], list[object]]:
    async with runtime_of(request).db.read() as session:
        queries = list(
            await session.scalars(
                select(ListeningQuery)
                .where(ListeningQuery.workspace_id == workspace_id)
                .order_by(ListeningQuery.name)
            )
        )
        channels = list(
            await session.scalars(
                select(Channel).where(Channel.workspace_id == workspace_id).order_by(Channel.name)
            )
        )
    return queries, channels


async def _form_page(
    request: Request,
    viewer: Viewer,
    *,
    wall: Wall | None,
    fields: service.WallFields,
    sources: list[service.Source],
    rules: list[Rule],
    error: str = "",
    status_code: int = 200,
) -> Response:
    queries, channels = await _choices(request, _workspace_id(viewer))
    return render(
        request,
        "walls/form.html",
        {
            "wall": wall,
            "f": fields,
            "queries": queries,
            "channels": channels,
            "chosen_queries": {s.query_id for s in sources if s.kind == "query"},
            "chosen_channels": {s.channel_id for s in sources if s.kind == "channel"},
            "hashtags": "\n".join(s.hashtag for s in sources if s.kind == "hashtag"),
            "own": any(s.kind == "own" for s in sources),
            "rules": _rule_values(rules),
            "language_choices": LANGUAGE_CHOICES,
            "layout_labels": _layout_labels(),
            "error_field": error,
            "error": i18n.gettext(FIELD_ERRORS[error]) if error else "",
            "section": "walls",
        },
        status_code=status_code,
    )


@router.get("/new")
async def new_wall_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("wall.manage"))]
) -> Response:
    return await _form_page(
        request, viewer, wall=None, fields=service.WallFields(name=""), sources=[], rules=[]
    )


async def _logo(request: Request, form: FormData, address: str, existing: Wall | None) -> str:
    """The wall's new ``logo_url``: an uploaded file wins, then the address typed in; an
    uploaded logo is kept while the address stays empty, unless "remove" is ticked."""
    upload = form.get("logo_file")
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read(media.MAX_LOGO_BYTES + 1)
        runtime = runtime_of(request)
        try:
            return await media.store_upload(runtime.db, runtime.settings.data_dir, content)
        except media.InvalidImage:
            raise service.InvalidWall("logo_file") from None
    kept = existing.logo_url if existing is not None else ""
    address = address.strip()
    if not address and kept.startswith(media.UPLOAD_PREFIX) and not form.get("remove_logo"):
        return kept
    if address and address != kept and re.match(r"^https?://\S+$", address):
        # Fetched now, so a refused logo is reported here rather than missing on the TV.
        runtime = runtime_of(request)
        try:
            await media.cached(
                runtime.db,
                runtime.settings.data_dir,
                address,
                max_bytes=media.MAX_LOGO_BYTES,
                allow_private_networks=runtime.settings.fetch_allow_private_networks,
                retry_failed=True,
            )
        except media.Unavailable:
            raise service.InvalidWall("logo_fetch") from None
    return address


async def _save(request: Request, viewer: Viewer, wall_id: int | None) -> Response:
    form = await request.form()
    workspace_id = _workspace_id(viewer)
    fields = _fields(form)
    queries, channels = await _choices(request, workspace_id)
    sources = _sources(
        form,
        {q.id for q in queries},
        {c.id for c in channels},  # type: ignore[attr-defined]
    )
    existing = await _load(request, viewer, wall_id) if wall_id is not None else None
    try:
        fields.logo_url = await _logo(request, form, fields.logo_url, existing)
        rules = _rules(form)
        async with runtime_of(request).db.write() as session:
            if wall_id is None:
                if fields.name.strip() in {
                    w.name for w in await service.list_walls(session, workspace_id)
                }:
                    raise service.InvalidWall("name")
                wall = await service.create_wall(session, workspace_id, fields)
            else:
                found = await service.get_wall(session, workspace_id, wall_id)
                if found is None:
                    raise PageError(404, i18n.gettext("There is no such wall."))
                others = {
                    w.name
                    for w in await service.list_walls(session, workspace_id)
                    if w.id != wall_id
                }
                if fields.name.strip() in others:
                    raise service.InvalidWall("name")
                wall = found
                await service.update_wall(session, wall, fields)
            await service.set_sources(session, wall, sources)
            await service.set_rules(session, wall, rules)
            audit.record(
                session,
                viewer.actor,
                "wall.update" if wall_id else "wall.create",
                "wall",
                wall.id,
                ip=client_ip(request),
                name=wall.name,
            )
            saved_id = wall.id
    except service.InvalidWall as exc:
        return await _form_page(
            request,
            viewer,
            wall=existing,
            fields=fields,
            sources=sources,
            rules=[],
            error=exc.field,
            status_code=422,
        )
    await _hint(request, saved_id)
    return redirect(f"/walls/{saved_id}/queue", ok="saved")


@router.post("/new")
async def create_wall(
    request: Request, viewer: Annotated[Viewer, Depends(require("wall.manage"))]
) -> Response:
    return await _save(request, viewer, None)


@router.get("/{wall_id}/edit")
async def edit_wall_page(
    request: Request, wall_id: int, viewer: Annotated[Viewer, Depends(require("wall.manage"))]
) -> Response:
    wall = await _load(request, viewer, wall_id)
    async with runtime_of(request).db.read() as session:
        sources = await service.sources_of(session, wall.id)
        rules = await service.rules_of(session, wall.id)
    fields = service.WallFields(
        name=wall.name,
        title=wall.title,
        hashtag=wall.hashtag,
        event_url=wall.event_url,
        layout=wall.layout,
        background=wall.background,
        foreground=wall.foreground,
        accent=wall.accent,
        logo_url=wall.logo_url,
        moderation=wall.moderation,
    )
    return await _form_page(request, viewer, wall=wall, fields=fields, sources=sources, rules=rules)


@router.post("/{wall_id}/edit")
async def update_wall(
    request: Request, wall_id: int, viewer: Annotated[Viewer, Depends(require("wall.manage"))]
) -> Response:
    return await _save(request, viewer, wall_id)


# --- display token --------------------------------------------------------------------------


@router.post("/{wall_id}/token")
async def rotate_token(
    request: Request, wall_id: int, viewer: Annotated[Viewer, Depends(require("wall.manage"))]
) -> Response:
    await _load(request, viewer, wall_id)
    async with runtime_of(request).db.write() as session:
        wall = await service.get_wall(session, _workspace_id(viewer), wall_id)
        assert wall is not None
        token = await service.rotate_token(session, wall)
        audit.record(
            session, viewer.actor, "wall.token.rotate", "wall", wall.id, ip=client_ip(request)
        )
    await _hint(request, wall_id)
    screen_url = str(request.base_url).rstrip("/") + f"/walls/{wall_id}?token={token}"
    return render(
        request, "walls/token.html", {"wall": wall, "screen_url": screen_url, "section": "walls"}
    )


@router.post("/{wall_id}/revoke")
async def revoke_token(
    request: Request, wall_id: int, viewer: Annotated[Viewer, Depends(require("wall.manage"))]
) -> Response:
    await _load(request, viewer, wall_id)
    async with runtime_of(request).db.write() as session:
        wall = await service.get_wall(session, _workspace_id(viewer), wall_id)
        assert wall is not None
        await service.revoke_token(session, wall)
        audit.record(
            session, viewer.actor, "wall.token.revoke", "wall", wall.id, ip=client_ip(request)
        )
    await _hint(request, wall_id)
    return redirect(f"/walls/{wall_id}/queue", ok="saved")


@router.post("/{wall_id}/delete")
async def delete_wall(
    request: Request, wall_id: int, viewer: Annotated[Viewer, Depends(require("wall.manage"))]
) -> Response:
    """Delete the wall with its sources, rules, queue and log; open screens say they are no
    longer valid."""
    await _load(request, viewer, wall_id)
    async with runtime_of(request).db.write() as session:
        wall = await service.get_wall(session, _workspace_id(viewer), wall_id)
        assert wall is not None
        audit.record(
            session,
            viewer.actor,
            "wall.delete",
            "wall",
            wall.id,
            ip=client_ip(request),
            name=wall.name,
        )
        await session.delete(wall)
    await _hint(request, wall_id)
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"hx-redirect": "/walls?ok=saved"})
    return redirect("/walls", ok="saved")


# --- moderation queue -----------------------------------------------------------------------


@router.get("/{wall_id}/queue")
async def queue_page(
    request: Request, wall_id: int, viewer: Annotated[Viewer, Depends(require("wall.view"))]
) -> Response:
    wall = await _load(request, viewer, wall_id)
    runtime = runtime_of(request)
    await service.catch_up(runtime.db, wall.id, open_broadcast(runtime.settings.broadcast_url))
    async with runtime.db.read() as session:
        pending = await service.cards(session, wall.id, ("pending",), QUEUE_SIZE)
        shown = await service.cards(session, wall.id, ("pinned", "approved"), MAX_ITEMS)
        rejected = await service.cards(session, wall.id, ("rejected",), QUEUE_SIZE)
        banned = await service.banned_authors(session, wall.id)
        after = await service.last_seq(session, wall.id)
        pins = [c for c in shown if c.state == "pinned"]
    return render(
        request,
        "walls/queue.html",
        {
            "wall": wall,
            "pending": pending,
            "shown": shown,
            "rejected": rejected,
            "banned": banned,
            "pins": pins,
            "cards": [c for c in shown if c.state != "pinned"],
            "after": after,
            "max_items": MAX_ITEMS,
            "token_query": "",
            "qr": None,
            "logo_src": logo_src(wall),
            "section": "walls",
        },
    )


@router.post("/{wall_id}/items/{message_id}/{action}")
async def queue_action(
    request: Request,
    wall_id: int,
    message_id: int,
    action: str,
    viewer: Annotated[Viewer, Depends(require("wall.moderate"))],
) -> Response:
    if action not in QUEUE_ACTIONS:
        raise PageError(404, i18n.gettext("There is no such action."))
    await _load(request, viewer, wall_id)
    person_id = viewer.actor.person_id
    try:
        async with runtime_of(request).db.write() as session:
            wall = await service.get_wall(session, _workspace_id(viewer), wall_id)
            assert wall is not None
            if action == "approve":
                await service.approve(session, wall, message_id, person_id)
            elif action == "reject":
                await service.reject(session, wall, message_id, person_id)
            elif action == "pin":
                await service.pin(session, wall, message_id, person_id)
            else:
                await service.ban_author(session, wall, message_id, person_id)
            audit.record(
                session,
                viewer.actor,
                f"wall.item.{action}",
                "wall",
                wall.id,
                ip=client_ip(request),
                message_id=message_id,
            )
            card = await service.card_for(session, wall.id, message_id)
    except service.NoSuchItem:
        raise PageError(404, i18n.gettext("There is no such post on this wall.")) from None
    await _hint(request, wall_id)
    if request.headers.get("hx-request"):
        if action == "ban":
            # Every post of the author changed: the whole queue is redrawn.
            return Response(status_code=204, headers={"hx-refresh": "true"})
        return render(request, "walls/_queue_item.html", {"wall": wall, "card": card})
    return redirect(f"/walls/{wall_id}/queue", ok="saved")
