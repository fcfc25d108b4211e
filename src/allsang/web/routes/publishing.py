"""Publishing pages: the list of posts, the composer (one post, a text per channel with the
network's own length counter and a preview), review (approve or reject with a note),
scheduling (an exact time in the viewer's time zone or the next free queue slot) and comments.

The work is done by :mod:`allsang.publishing.service`; this module turns forms into calls and
the service's errors into messages for people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile
from starlette.responses import FileResponse, Response

from allsang import i18n, safefetch
from allsang.connectors import limits
from allsang.db.models import Channel, Department, Person, Workspace
from allsang.db.models.calendar import ChannelOwner
from allsang.db.models.publishing import Post, PostMedia
from allsang.publishing import media, service
from allsang.publishing.calendar import campaigns as list_campaigns
from allsang.publishing.states import (
    ApprovalRequired,
    IllegalTransition,
    InvalidPost,
    NotApprover,
    PublishingError,
)
from allsang.publishing.timing import AmbiguousLocalTime, NonexistentLocalTime, to_local
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.routes.calendar import STATUS_LABELS, labels
from allsang.web.templating import render
from allsang.web.viewer import Viewer, require, runtime_of

router = APIRouter(prefix="/publish")

PROBLEMS = {
    "approval": i18n.N_("The post must be approved before it is scheduled."),
    "approver": i18n.N_("You may not decide this approval step."),
    "status": i18n.N_("The post is not in a state that allows this."),
    "invalid": i18n.N_("The post cannot go out like this: check the channels, texts and time."),
    "gap": i18n.N_("That time does not exist: the clocks go forward then. Choose another time."),
    "fold": i18n.N_("That time happens twice: the clocks go back then. Choose another time."),
    "past": i18n.N_("The time is in the past."),
    "slots": i18n.N_("A channel has no queue times; choose a time instead."),
    "no_channel": i18n.N_("Choose at least one channel."),
    "no_text": i18n.N_("The post has no text."),
    "too_long": i18n.N_("The text is too long for one of the channels."),
    "alt_text": i18n.N_("Every image and video needs alt text before the post goes further."),
    "media_network": i18n.N_("One of the channels cannot publish images or videos yet."),
    "media_limit": i18n.N_(
        "Too many or too large files for one of the channels (Mastodon takes 4 images, "
        "Bluesky 4 images of at most 1 MB)."
    ),
    "note": i18n.N_("Say why the post is sent back."),
    "media": i18n.N_(
        "Upload a PNG, JPEG, GIF, WebP or AVIF image or an MP4 video (images up to 8 MB)."
    ),
}

# The publishing service's InvalidPost codes → the messages above.
INVALID_POST_CODES = {
    "past": "past",
    "no_slots": "slots",
    "no_channel": "no_channel",
    "no_text": "no_text",
    "too_long": "too_long",
    "alt_text": "alt_text",
    "media": "media_network",
    "media_limit": "media_limit",
    "file_type": "media",
    "file_size": "media",
    "note_required": "note",
}


def _problem_key(exc: Exception) -> str:
    if isinstance(exc, NonexistentLocalTime):
        return "gap"
    if isinstance(exc, AmbiguousLocalTime):
        return "fold"
    if isinstance(exc, ApprovalRequired):
        return "approval"
    if isinstance(exc, NotApprover):
        return "approver"
    if isinstance(exc, IllegalTransition):
        return "status"
    if isinstance(exc, InvalidPost):
        return INVALID_POST_CODES.get(getattr(exc, "code", "invalid"), "invalid")
    return "invalid"


def _back(post_id: int, exc: Exception) -> Response:
    return redirect(f"/publish/{post_id}?{urlencode({'problem': _problem_key(exc)})}")


def _workspace_id(viewer: Viewer) -> int:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    return workspace_id


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    channel: Channel
    rule: dict[str, Any] | None


async def _channels(request: Request, workspace_id: int) -> list[ChannelChoice]:
    """The organisation's channels (people's own accounts are for sharing, not composing)."""
    async with runtime_of(request).db.read() as session:
        channels = (
            await session.scalars(
                select(Channel)
                .where(
                    Channel.workspace_id == workspace_id,
                    ~Channel.id.in_(select(ChannelOwner.channel_id)),
                )
                .order_by(Channel.name)
            )
        ).all()
    return [
        ChannelChoice(c, limits.browser_rule(c.network, config=c.config or {})) for c in channels
    ]


def _content(form: FormData, channel_ids: set[int]) -> dict[str, Any]:
    chosen = [i for i in (_int(v) for v in form.getlist("channel")) if i in channel_ids]
    variants: dict[int, str] = {}
    body = str(form.get("body", ""))
    for channel_id in chosen:
        text = form.get(f"variant-{channel_id}")
        # A variant equal to the body is no variant: it follows later edits of the body.
        if isinstance(text, str) and text.strip() and text.strip() != body.strip():
            variants[channel_id] = text
    return {
        "body": body,
        "title": str(form.get("title", "")),
        "channel_ids": chosen,
        "variants": variants,
        "department_id": _int(form.get("department")) or 0,
        "campaign_id": _int(form.get("campaign")) or 0,
    }


@router.get("")
async def posts_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("post.view"))]
) -> Response:
    async with runtime_of(request).db.read() as session:
        posts = await service.list_posts(session, viewer.actor, limit=200)
        waiting = await service.awaiting(session, viewer.actor)
        names = dict(
            (
                await session.execute(
                    select(Person.id, Person.name).where(
                        Person.id.in_({p.author_id for p in posts if p.author_id})
                    )
                )
            ).all()
        )
    return render(
        request,
        "publishing/posts.html",
        {
            "section": "publish",
            "posts": sorted(posts, key=lambda p: p.id, reverse=True),
            "waiting": waiting,
            "names": names,
            "status_labels": labels(STATUS_LABELS),
            "local": lambda instant: to_local(instant, i18n.current_timezone()),
        },
    )


async def _compose(
    request: Request,
    viewer: Viewer,
    post: Post | None,
    *,
    problem: str = "",
    status_code: int = 200,
) -> Response:
    workspace_id = _workspace_id(viewer)
    channels = await _channels(request, workspace_id)
    context: dict[str, Any] = {
        "post": post,
        "variants": {},
        "comments": [],
        "approvals": [],
        "deliveries": [],
        "step": None,
        "may_decide": False,
        "people": {},
        "media_rows": [],
    }
    async with runtime_of(request).db.read() as session:
        departments = (
            await session.scalars(
                select(Department)
                .where(Department.workspace_id == workspace_id)
                .order_by(Department.name)
            )
        ).all()
        campaigns = await list_campaigns(session, workspace_id)
        if post is not None:
            context["variants"] = {
                v.channel_id: v for v in await service.variants_of(session, viewer.actor, post.id)
            }
            context["comments"] = await service.comments(session, viewer.actor, post.id)
            context["approvals"] = await service.approvals(session, viewer.actor, post.id)
            context["deliveries"] = await service.deliveries(session, viewer.actor, post.id)
            context["media_rows"] = await _post_media(session, viewer, post)
            step = await service.current_step(session, post) if post.status == "in_review" else None
            context["step"] = step
            context["may_decide"] = step is not None and service.may_decide(
                viewer.actor, post, step
            )
            ids = {c.person_id for c in context["comments"]} | {
                a.person_id for a in context["approvals"]
            }
            ids.add(post.author_id)
            context["people"] = dict(
                (
                    await session.execute(
                        select(Person.id, Person.name).where(Person.id.in_(ids - {None}))
                    )
                ).all()
            )
        workspace = await session.get(Workspace, workspace_id)
    publishing_settings = ((workspace.settings or {}) if workspace else {}).get("publishing") or {}
    zone_name = i18n.current_timezone()
    own = post is None or (viewer.actor.person_id == post.author_id)
    return render(
        request,
        "publishing/compose.html",
        {
            "section": "publish",
            "channels": channels,
            "departments": departments,
            "campaigns": campaigns,
            "zone_name": zone_name,
            "problem": problem,
            "alt_required": publishing_settings.get("alt_text_required", True) is not False,
            "status_labels": labels(STATUS_LABELS),
            "local": lambda instant: to_local(instant, zone_name),
            "may_edit": post is None
            or (
                post.status in ("draft", "in_review", "approved")
                and viewer.can("post.draft" if own else "post.manage")
            ),
            **context,
        },
        status_code=status_code,
    )


@router.get("/new")
async def new_post(
    request: Request, viewer: Annotated[Viewer, Depends(require("post.draft"))]
) -> Response:
    return await _compose(request, viewer, None)


@router.post("/new")
async def create_post(
    request: Request, viewer: Annotated[Viewer, Depends(require("post.draft"))]
) -> Response:
    form = await request.form()
    channel_ids = {c.channel.id for c in await _channels(request, _workspace_id(viewer))}
    content = _content(form, channel_ids)
    try:
        async with runtime_of(request).db.write() as session:
            post = await service.create_draft(
                session,
                viewer.actor,
                body=content["body"],
                title=content["title"],
                channel_ids=content["channel_ids"],
                variants=content["variants"],
                department_id=content["department_id"] or None,
                campaign_id=content["campaign_id"] or None,
            )
            if form.get("action") == "submit":
                await service.submit_for_review(session, viewer.actor, post.id)
    except PublishingError as exc:
        return await _compose(
            request,
            viewer,
            None,
            problem=i18n.gettext(PROBLEMS[_problem_key(exc)]),
            status_code=422,
        )
    return redirect(f"/publish/{post.id}", ok="saved")


async def _load(request: Request, viewer: Viewer, post_id: int) -> Post:
    try:
        async with runtime_of(request).db.read() as session:
            return await service.get_post(session, viewer.actor, post_id)
    except PublishingError:
        raise PageError(404, i18n.gettext("There is no such post.")) from None


@router.get("/{post_id:int}")
async def show_post(
    request: Request, post_id: int, viewer: Annotated[Viewer, Depends(require("post.view"))]
) -> Response:
    post = await _load(request, viewer, post_id)
    problem = request.query_params.get("problem", "")
    return await _compose(
        request,
        viewer,
        post,
        problem=i18n.gettext(PROBLEMS[problem]) if problem in PROBLEMS else "",
    )


@router.post("/{post_id:int}")
async def save_post(
    request: Request, post_id: int, viewer: Annotated[Viewer, Depends(require("post.draft"))]
) -> Response:
    form = await request.form()
    channel_ids = {c.channel.id for c in await _channels(request, _workspace_id(viewer))}
    content = _content(form, channel_ids)
    try:
        async with runtime_of(request).db.write() as session:
            await service.update_draft(session, viewer.actor, post_id, **content)
            if form.get("action") == "submit":
                await service.submit_for_review(session, viewer.actor, post_id)
    except PublishingError as exc:
        return _back(post_id, exc)
    return redirect(f"/publish/{post_id}", ok="saved")


@router.post("/{post_id}/submit")
async def submit_post(
    request: Request, post_id: int, viewer: Annotated[Viewer, Depends(require("post.draft"))]
) -> Response:
    try:
        async with runtime_of(request).db.write() as session:
            await service.submit_for_review(session, viewer.actor, post_id)
    except PublishingError as exc:
        return _back(post_id, exc)
    return redirect(f"/publish/{post_id}", ok="saved")


@router.post("/{post_id}/review")
async def review_post(
    request: Request, post_id: int, viewer: Annotated[Viewer, Depends(require("post.review"))]
) -> Response:
    form = await request.form()
    note = str(form.get("note", "")).strip()
    try:
        async with runtime_of(request).db.write() as session:
            if form.get("decision") == "approve":
                await service.approve(session, viewer.actor, post_id, note)
            else:
                await service.reject(session, viewer.actor, post_id, note)
    except PublishingError as exc:
        return _back(post_id, exc)
    return redirect(f"/publish/{post_id}", ok="saved")


@router.post("/{post_id}/schedule")
async def schedule_post(
    request: Request, post_id: int, viewer: Annotated[Viewer, Depends(require("post.schedule"))]
) -> Response:
    form = await request.form()
    when = str(form.get("when", "time"))
    try:
        local = None
        if when == "time":
            local = datetime.fromisoformat(str(form.get("local", ""))).replace(tzinfo=None)
        async with runtime_of(request).db.write() as session:
            await service.schedule(
                session,
                viewer.actor,
                post_id,
                local_time=local,
                timezone=i18n.current_timezone(),
                next_free_slot=when == "slot",
            )
    except ValueError as exc:
        if isinstance(exc, PublishingError):
            return _back(post_id, exc)
        return _back(post_id, InvalidPost("no time"))
    except PublishingError as exc:
        return _back(post_id, exc)
    return redirect(f"/publish/{post_id}", ok="saved")


@router.post("/{post_id}/cancel")
async def cancel_post(
    request: Request, post_id: int, viewer: Annotated[Viewer, Depends(require("post.schedule"))]
) -> Response:
    try:
        async with runtime_of(request).db.write() as session:
            await service.cancel(session, viewer.actor, post_id)
    except PublishingError as exc:
        return _back(post_id, exc)
    return redirect(f"/publish/{post_id}", ok="saved")


@router.post("/{post_id}/comments")
async def comment_post(
    request: Request, post_id: int, viewer: Annotated[Viewer, Depends(require("post.comment"))]
) -> Response:
    form = await request.form()
    try:
        async with runtime_of(request).db.write() as session:
            await service.comment(session, viewer.actor, post_id, str(form.get("body", "")))
    except PublishingError as exc:
        return _back(post_id, exc)
    return redirect(f"/publish/{post_id}#comments", ok="saved")


# --- media ----------------------------------------------------------------------------------


async def _attach_everywhere(session: Any, viewer: Viewer, post_id: int, media_id: int) -> None:
    """Media are attached to every channel's text of the post (the composer's one list)."""
    for variant in await service.variants_of(session, viewer.actor, post_id):
        ids = [*(variant.media_ids or []), media_id]
        await media.attach(session, viewer.actor, post_id, variant.channel_id, ids)


@router.post("/{post_id}/media")
async def upload_media(
    request: Request, post_id: int, viewer: Annotated[Viewer, Depends(require("post.draft"))]
) -> Response:
    form = await request.form()
    upload = form.get("file")
    alt = form.get("alt")
    if not isinstance(upload, UploadFile):
        return redirect(f"/publish/{post_id}?problem=media")
    content = await upload.read(media.MAX_VIDEO_BYTES + 1)
    try:
        async with runtime_of(request).db.write() as session:
            post = await service.get_post(session, viewer.actor, post_id)
            row = await media.store_media(
                session,
                viewer.actor,
                runtime_of(request).settings.data_dir,
                content,
                filename=upload.filename or "",
                alt_text=alt if isinstance(alt, str) else "",
                post_id=post.id,
            )
            await _attach_everywhere(session, viewer, post.id, row.id)
    except InvalidPost:
        return redirect(f"/publish/{post_id}?problem=media")
    except PublishingError as exc:
        return _back(post_id, exc)
    return redirect(f"/publish/{post_id}#media", ok="saved")


@router.post("/{post_id}/media/{media_id}")
async def change_media(
    request: Request,
    post_id: int,
    media_id: int,
    viewer: Annotated[Viewer, Depends(require("post.draft"))],
) -> Response:
    """Set a file's alt text, or (``remove``) take it off the post."""
    form = await request.form()
    try:
        async with runtime_of(request).db.write() as session:
            if form.get("remove"):
                for variant in await service.variants_of(session, viewer.actor, post_id):
                    ids = [m for m in variant.media_ids or [] if m != media_id]
                    await media.attach(session, viewer.actor, post_id, variant.channel_id, ids)
            else:
                await media.set_alt_text(session, viewer.actor, media_id, str(form.get("alt", "")))
    except PublishingError as exc:
        return _back(post_id, exc)
    return redirect(f"/publish/{post_id}#media", ok="saved")


@router.get("/media/{media_id}")
async def media_file(
    request: Request, media_id: int, viewer: Annotated[Viewer, Depends(require("post.view"))]
) -> Response:
    async with runtime_of(request).db.read() as session:
        row = await session.get(PostMedia, media_id)
    if row is None or row.workspace_id != viewer.actor.workspace_id:
        raise PageError(404, i18n.gettext("There is no such file."))
    path = media.media_path(runtime_of(request).settings.data_dir, row)
    return FileResponse(
        path,
        media_type=row.content_type,
        # nosniff and the CSP come from the security middleware, as for every response.
        headers={"Cache-Control": "private, max-age=86400, immutable"},
    )


async def _post_media(session: Any, viewer: Viewer, post: Post) -> list[PostMedia]:
    ids: list[int] = []
    for variant in await service.variants_of(session, viewer.actor, post.id):
        ids += [m for m in variant.media_ids or [] if m not in ids]
    if not ids:
        return []
    rows = {
        m.id: m
        for m in (
            await session.scalars(
                select(PostMedia).where(
                    PostMedia.id.in_(ids), PostMedia.workspace_id == post.workspace_id
                )
            )
        ).all()
    }
    return [rows[i] for i in ids if i in rows]


# --- link preview ---------------------------------------------------------------------------

URL_IN_TEXT = re.compile(r"https?://[^\s<>\"]+")


class _OpenGraph(HTMLParser):
    """Collects ``og:*`` meta properties and the <title> of a page head."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, str] = {}
        self._in_title = False
        self.title = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "meta":
            key = values.get("property") or values.get("name") or ""
            if key.startswith("og:") and key not in self.found:
                self.found[key] = values.get("content", "").strip()[:500]
            elif key == "description" and "description" not in self.found:
                self.found["description"] = values.get("content", "").strip()[:500]
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title and len(self.title) < 300:
            self.title += data


def opengraph(page: str) -> dict[str, str]:
    """Title, description, image and site name of a page, from OpenGraph tags (or <title>
    and the description meta tag); values are plain text, escaped when shown."""
    parser = _OpenGraph()
    parser.feed(page[:200_000])
    return {
        "title": parser.found.get("og:title") or parser.title.strip(),
        "description": parser.found.get("og:description") or parser.found.get("description", ""),
        "image": parser.found.get("og:image", ""),
        "site": parser.found.get("og:site_name", ""),
    }


@router.get("/link-preview")
async def link_preview(
    request: Request, viewer: Annotated[Viewer, Depends(require("post.draft"))]
) -> Response:
    """A card for the first link in ``text`` (htmx fragment), fetched server-side through
    :func:`allsang.safefetch.fetch` (public addresses only, size and time limits)."""
    text = request.query_params.get("text", "")[:5000]
    match = URL_IN_TEXT.search(text)
    card: dict[str, str] | None = None
    failed = False
    if match:
        url = match.group(0).rstrip(".,:;!?)]'")
        try:
            fetched = await safefetch.fetch(
                url,
                max_bytes=512 * 1024,
                allowed_types=("text/html", "application/xhtml+xml"),
                timeout=5,
                allow_private_networks=runtime_of(request).settings.fetch_allow_private_networks,
            )
            card = {"url": url, **opengraph(fetched.text)}
        except safefetch.FetchError:
            failed = True
    return render(
        request,
        "publishing/_link_preview.html",
        {"card": card, "failed": failed},
    )
