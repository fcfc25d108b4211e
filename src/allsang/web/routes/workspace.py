"""Workspace settings: name, time zone and the default language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from allsang import audit, i18n
from allsang.db.models import Workspace
from allsang.web.routes import redirect
from allsang.web.templating import render
from allsang.web.timezones import TIMEZONES
from allsang.web.viewer import Viewer, client_ip, require, runtime_of

router = APIRouter()


def _page(
    request: Request,
    workspace: Workspace,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "workspace.html",
        {
            "workspace": workspace,
            "timezones": TIMEZONES,
            "errors": errors or {},
            "section": "settings",
        },
        status_code=status_code,
    )


@router.get("/settings")
async def workspace_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("workspace.update"))]
) -> Response:
    async with runtime_of(request).db.read() as session:
        workspace = await session.get(Workspace, viewer.actor.workspace_id)
    assert workspace is not None
    return _page(request, workspace)


@router.post("/settings")
async def update_workspace(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("workspace.update"))],
    name: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
    locale: Annotated[str, Form()] = "",
) -> Response:
    name = name.strip()
    errors: dict[str, str] = {}
    if not name or len(name) > 200:
        errors["name"] = i18n.gettext("Enter a name of at most 200 characters.")
    if not i18n.valid_timezone(timezone):
        errors["timezone"] = i18n.gettext("Choose one of the time zones in the list.")
    if i18n.normalize_locale(locale) != locale:
        errors["locale"] = i18n.gettext("Choose one of the languages in the list.")
    async with runtime_of(request).db.write() as session:
        workspace = await session.get(Workspace, viewer.actor.workspace_id)
        assert workspace is not None
        if errors:
            return _page(request, workspace, errors=errors, status_code=422)
        changes = {
            field: value
            for field, value in (("name", name), ("timezone", timezone), ("locale", locale))
            if getattr(workspace, field) != value
        }
        for field, value in changes.items():
            setattr(workspace, field, value)
        if changes:
            audit.record(
                session,
                viewer.actor,
                "workspace.update",
                "workspace",
                workspace.id,
                ip=client_ip(request),
                **changes,
            )
    return redirect("/settings", ok="saved")
