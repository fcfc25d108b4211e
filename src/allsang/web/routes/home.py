"""The home page: what the workspace holds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select
from starlette.responses import Response

from allsang.db.models import Channel, Department, Membership
from allsang.web.templating import render
from allsang.web.viewer import Viewer, require, runtime_of

router = APIRouter()


@router.get("/")
async def home(
    request: Request, viewer: Annotated[Viewer, Depends(require("workspace.view"))]
) -> Response:
    workspace_id = viewer.actor.workspace_id
    async with runtime_of(request).db.read() as session:
        counts = {}
        for key, model in (
            ("people", Membership),
            ("departments", Department),
            ("channels", Channel),
        ):
            counts[key] = await session.scalar(
                select(func.count()).select_from(model).where(model.workspace_id == workspace_id)
            )
        # Routed to the people who can fix it, so a stopped channel never goes unnoticed.
        reconnect = (
            list(
                await session.execute(
                    select(Channel.id, Channel.name)
                    .where(
                        Channel.workspace_id == workspace_id,
                        Channel.state == "reconnect_needed",
                    )
                    .order_by(Channel.name)
                )
            )
            if viewer.can("channel.reconnect")
            else []
        )
    return render(
        request, "home.html", {"counts": counts, "reconnect": reconnect, "section": "home"}
    )
