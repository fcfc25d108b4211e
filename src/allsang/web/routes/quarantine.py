"""The quarantine page: inbound items that could not become messages, with the reason and the
raw body (always escaped), to re-process after a fix or to dismiss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select
from starlette.responses import Response

from allsang import channels, i18n
from allsang.db.models import Channel, QuarantinedItem
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.templating import render
from allsang.web.viewer import Viewer, client_ip, require, runtime_of

router = APIRouter(prefix="/quarantine")

PAGE_SIZE = 50
PREVIEW_CHARS = 400
# "Show all" shows this much; a larger body is cut there (the stored row keeps all of it).
FULL_CHARS = 100_000


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    item: QuarantinedItem
    channel_name: str | None
    preview: str
    full: str
    cut: bool


def _row(item: QuarantinedItem, channel_name: str | None) -> QuarantineRow:
    raw = item.raw
    return QuarantineRow(
        item=item,
        channel_name=channel_name,
        preview=raw[:PREVIEW_CHARS],
        full=raw[:FULL_CHARS] if len(raw) > PREVIEW_CHARS else "",
        cut=len(raw) > FULL_CHARS,
    )


def _count(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 10 else 0


def _flash(request: Request) -> dict[str, str]:
    params = request.query_params
    if params.get("ok") == "reprocessed":
        resolved, failed = (_count(params.get(key)) for key in ("resolved", "failed"))
        text = i18n.gettext(
            "Processed again: %(resolved)s became messages, %(failed)s still could not."
        ) % {"resolved": resolved, "failed": failed}
        return {"flash": text}
    if params.get("ok") == "dismissed":
        return {"flash": i18n.gettext("The item was dismissed.")}
    return {}


@router.get("")
async def quarantine_page(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("quarantine.view"))],
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    workspace_id = viewer.actor.workspace_id
    open_items = (
        QuarantinedItem.workspace_id == workspace_id,
        QuarantinedItem.resolved_at.is_(None),
    )
    async with runtime_of(request).db.read() as session:
        total = await session.scalar(select(func.count(QuarantinedItem.id)).where(*open_items))
        rows = list(
            await session.execute(
                select(QuarantinedItem, Channel.name)
                .outerjoin(Channel, Channel.id == QuarantinedItem.channel_id)
                .where(*open_items)
                .order_by(QuarantinedItem.created_at.desc(), QuarantinedItem.id.desc())
                .limit(PAGE_SIZE + 1)
                .offset((page - 1) * PAGE_SIZE)
            )
        )
    return render(
        request,
        "quarantine/list.html",
        {
            "rows": [_row(item, name) for item, name in rows[:PAGE_SIZE]],
            "total": int(total or 0),
            "page": page,
            "has_next": len(rows) > PAGE_SIZE,
            "status": None,
            "section": "team",
            **_flash(request),
        },
    )


def _done(result: channels.ReprocessResult) -> Response:
    return redirect(
        f"/quarantine?resolved={result.resolved}&failed={result.failed}", ok="reprocessed"
    )


@router.post("/reprocess")
async def reprocess_all(
    request: Request, viewer: Annotated[Viewer, Depends(require("quarantine.manage"))]
) -> Response:
    result = await channels.reprocess(runtime_of(request), viewer.actor, ip=client_ip(request))
    return _done(result)


async def _open_item(request: Request, viewer: Viewer, item_id: int) -> QuarantinedItem:
    async with runtime_of(request).db.read() as session:
        item = await session.scalar(
            select(QuarantinedItem).where(
                QuarantinedItem.id == item_id,
                QuarantinedItem.workspace_id == viewer.actor.workspace_id,
                QuarantinedItem.resolved_at.is_(None),
            )
        )
    if item is None:
        raise PageError(404, i18n.gettext("There is no such open item in quarantine."))
    return item


@router.post("/{item_id}/reprocess")
async def reprocess_one(
    request: Request,
    item_id: int,
    viewer: Annotated[Viewer, Depends(require("quarantine.manage"))],
) -> Response:
    item = await _open_item(request, viewer, item_id)
    result = await channels.reprocess(
        runtime_of(request), viewer.actor, [item.id], ip=client_ip(request)
    )
    return _done(result)


@router.post("/{item_id}/dismiss")
async def dismiss_one(
    request: Request,
    item_id: int,
    viewer: Annotated[Viewer, Depends(require("quarantine.manage"))],
) -> Response:
    item = await _open_item(request, viewer, item_id)
    await channels.dismiss(runtime_of(request), viewer.actor, [item.id], ip=client_ip(request))
    return redirect("/quarantine", ok="dismissed")
