"""Inbox workflow pages: the reply box's send (reply or direct message, held for approval,
stopped on a collision), snooze, typing beats, saved replies and the approvals list.

The conversation page itself lives in :mod:`allsang.web.routes.inbox`; what it shows of the
workflow comes from :func:`allsang.web.routes.inbox_compose.compose_context`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import PlainTextResponse, Response

from allsang import i18n
from allsang.db.models import Workspace
from allsang.db.models.inbox_workflow import PendingReply
from allsang.inbox import actions, approval, presence, replies, saved_replies, snooze
from allsang.live import open_broadcast, publish_conversations
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.routes.inbox import _choices, _workspace_id, conversation_page
from allsang.web.routes.inbox_compose import MODE_LABELS
from allsang.web.templating import render
from allsang.web.viewer import Viewer, require, runtime_of

router = APIRouter(prefix="/inbox")


async def _announce(request: Request, workspace_id: int, conversation_id: int) -> None:
    async with runtime_of(request).db.read() as session:
        conversation = await actions.load(session, workspace_id, conversation_id)
    broadcast = open_broadcast(runtime_of(request).settings.broadcast_url)
    await publish_conversations(broadcast, [conversation])


def _since(value: str) -> datetime | None:
    if not value.isdigit() or len(value) > 18:
        return None
    return datetime.fromtimestamp(int(value) / 1_000_000, UTC)


# --- sending ----------------------------------------------------------------------------------


@router.post("/{conversation_id}/send")
async def send(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.reply"))],
    conversation_id: int,
    text: Annotated[str, Form(max_length=replies.MAX_REPLY * 2)] = "",
    mode: Annotated[str, Form(max_length=10)] = "reply",
    since: Annotated[str, Form(max_length=20)] = "",
    force: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """The reply box: send (or hold for approval) a public reply or a direct message.

    A collision answers 409 with the page, the text kept, a warning naming who answered and
    a "Send anyway" button (``force=1``)."""
    workspace_id = _workspace_id(viewer)
    chosen: replies.Mode = "direct" if mode == "direct" else "reply"
    runtime = runtime_of(request)
    if viewer.actor.person_id is not None:
        await presence.typing(
            open_broadcast(runtime.settings.broadcast_url),
            workspace_id,
            conversation_id,
            viewer.actor.person_id,
            False,
        )
    try:
        held = await approval.submit(
            runtime,
            viewer.actor,
            workspace_id,
            conversation_id,
            text,
            mode=chosen,
            since=_since(since),
            force=force == "1",
        )
    except actions.NotFound:
        raise PageError(404, i18n.gettext("There is no such conversation.")) from None
    except replies.Collision as exc:
        request.state.draft = {"text": text, "mode": chosen, "collision": exc.names}
        response = await conversation_page(request, viewer, conversation_id)
        response.status_code = 409
        return response
    except replies.ReplyFailed as exc:
        request.state.draft = {"text": text, "mode": chosen, "error": str(exc)[:300]}
        response = await conversation_page(request, viewer, conversation_id)
        response.status_code = 422
        return response
    await _announce(request, workspace_id, conversation_id)
    return redirect(f"/inbox/{conversation_id}", ok="reply_held" if held else "saved")


@router.post("/{conversation_id}/typing")
async def typing_beat(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.reply"))],
    conversation_id: int,
    on: Annotated[str, Form(max_length=1)] = "1",
) -> Response:
    """The reply box says its person is (``on=1``) or no longer is (``on=0``) writing."""
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.read() as session:
        try:
            await actions.load(session, workspace_id, conversation_id)
        except actions.NotFound:
            raise PageError(404, i18n.gettext("There is no such conversation.")) from None
    if viewer.actor.person_id is not None:
        if viewer.person is not None:
            presence.remember_name(viewer.actor.person_id, viewer.person.name)
        await presence.typing(
            open_broadcast(runtime_of(request).settings.broadcast_url),
            workspace_id,
            conversation_id,
            viewer.actor.person_id,
            on == "1",
        )
    return Response(status_code=204)


# --- snooze -----------------------------------------------------------------------------------


@router.post("/{conversation_id}/snooze")
async def snooze_conversation(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.snooze"))],
    conversation_id: int,
    until: Annotated[str, Form(max_length=40)] = "",
    at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """``until``: a preset (``later``, ``tomorrow``, ``monday``, ``week``) or ``custom`` with
    ``at`` a local date and time (``2026-12-24T09:00``) in the viewer's time zone."""
    workspace_id = _workspace_id(viewer)
    value = at if until in ("", "custom") else until
    try:
        when = snooze.parse_until(value, snooze.zone(i18n.current_timezone()))
    except actions.InvalidChange:
        raise PageError(
            422, i18n.gettext("Choose a time in the future, at most a year from now.")
        ) from None
    async with runtime_of(request).db.write() as session:
        try:
            conversation = await actions.load(session, workspace_id, conversation_id)
        except actions.NotFound:
            raise PageError(404, i18n.gettext("There is no such conversation.")) from None
        await snooze.snooze(session, viewer.actor, conversation, when)
    await _announce(request, workspace_id, conversation_id)
    return redirect(f"/inbox/{conversation_id}", ok="snoozed")


@router.post("/{conversation_id}/unsnooze")
async def unsnooze_conversation(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("conversation.snooze"))],
    conversation_id: int,
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.write() as session:
        try:
            conversation = await actions.load(session, workspace_id, conversation_id)
        except actions.NotFound:
            raise PageError(404, i18n.gettext("There is no such conversation.")) from None
        await snooze.unsnooze(session, viewer.actor, conversation)
    await _announce(request, workspace_id, conversation_id)
    return redirect(f"/inbox/{conversation_id}", ok="saved")


# --- saved replies ----------------------------------------------------------------------------


@router.get("/{conversation_id}/saved-replies/{saved_id}")
async def saved_reply_text(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("saved_reply.use"))],
    conversation_id: int,
    saved_id: int,
) -> Response:
    """The saved reply with its variables filled in for this conversation (plain text)."""
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.read() as session:
        try:
            conversation = await actions.load(session, workspace_id, conversation_id)
            saved = await saved_replies.get(session, workspace_id, saved_id)
        except actions.NotFound:
            raise PageError(404, i18n.gettext("There is no such saved reply.")) from None
        values = await saved_replies.values_for(session, conversation, viewer.actor.person_id)
    return PlainTextResponse(saved_replies.render(saved.text, values))


@router.get("/{conversation_id}/compose")
async def compose_with_saved_reply(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("saved_reply.use"))],
    conversation_id: int,
    saved: Annotated[int, Query()] = 0,
) -> Response:
    """Without JavaScript: the conversation page with the saved reply in the reply box."""
    response = await saved_reply_text(request, viewer, conversation_id, saved)
    request.state.draft = {"text": bytes(response.body).decode(), "mode": "reply"}
    return await conversation_page(request, viewer, conversation_id)


@router.get("/settings/saved-replies")
async def saved_replies_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("saved_reply.manage"))]
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.read() as session:
        items = await saved_replies.all_of(session, workspace_id)
        workspace = await session.get(Workspace, workspace_id)
    choices = await _choices(request, workspace_id)
    return render(
        request,
        "inbox/saved_replies.html",
        {
            "items": items,
            "departments": choices["departments"],
            "variables": saved_replies.VARIABLES,
            "reply_approval": bool((workspace.settings or {}).get("reply_approval"))
            if workspace
            else False,
            "section": "inbox",
        },
    )


@router.post("/settings/saved-replies")
async def save_saved_reply(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("saved_reply.manage"))],
    name: Annotated[str, Form(max_length=1000)] = "",
    text: Annotated[str, Form(max_length=saved_replies.MAX_TEXT * 2)] = "",
    department: Annotated[str, Form(max_length=20)] = "",
    saved_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    async with runtime_of(request).db.write() as session:
        try:
            await saved_replies.save(
                session,
                viewer.actor,
                _workspace_id(viewer),
                name=name,
                text=text,
                department=department,
                saved_id=int(saved_id) if saved_id.isdigit() else None,
            )
        except actions.NotFound:
            raise PageError(404, i18n.gettext("There is no such saved reply.")) from None
        except actions.InvalidChange:
            raise PageError(
                422,
                i18n.gettext(
                    "Give the saved reply a name of at most 100 characters and a text of at "
                    "most 5,000."
                ),
            ) from None
    return redirect("/inbox/settings/saved-replies", ok="saved")


@router.post("/settings/saved-replies/{saved_id}/delete")
async def delete_saved_reply(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("saved_reply.manage"))],
    saved_id: int,
) -> Response:
    async with runtime_of(request).db.write() as session:
        try:
            await saved_replies.delete(session, viewer.actor, _workspace_id(viewer), saved_id)
        except actions.NotFound:
            raise PageError(404, i18n.gettext("There is no such saved reply.")) from None
    return redirect("/inbox/settings/saved-replies", ok="deleted")


@router.post("/settings/approval")
async def set_approval(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("inbox.settings"))],
    reply_approval: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    async with runtime_of(request).db.write() as session:
        await approval.set_required(
            session, viewer.actor, _workspace_id(viewer), reply_approval == "1"
        )
    return redirect("/inbox/settings/saved-replies", ok="saved")


# --- approvals --------------------------------------------------------------------------------


@router.get("/approvals")
async def approvals_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("reply.approve"))]
) -> Response:
    async with runtime_of(request).db.read() as session:
        items = await approval.pending_items(session, _workspace_id(viewer))
    return render(
        request,
        "inbox/approvals.html",
        {
            "items": items,
            "held_is_open": approval.is_open,
            "mode_label": lambda mode: i18n.gettext(MODE_LABELS.get(mode, mode)),
            "section": "inbox",
        },
    )


def _after_decision(request: Request, conversation_id: int, ok: str) -> Response:
    back = request.query_params.get("back", "")
    if back == "list":
        return redirect("/inbox/approvals", ok=ok)
    return redirect(f"/inbox/{conversation_id}", ok=ok)


@router.post("/approvals/{pending_id}/approve")
async def approve_reply(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("reply.approve"))],
    pending_id: int,
) -> Response:
    workspace_id = _workspace_id(viewer)
    try:
        pending = await approval.approve(
            runtime_of(request), viewer.actor, workspace_id, pending_id
        )
    except actions.NotFound:
        raise PageError(404, i18n.gettext("There is no such reply waiting.")) from None
    except approval.AlreadyDecided:
        raise PageError(
            409, i18n.gettext("Someone else has already approved or rejected this reply.")
        ) from None
    except replies.ReplyFailed as exc:
        async with runtime_of(request).db.read() as session:
            row = await session.get(PendingReply, pending_id)
        target = row.conversation_id if row else 0
        query = urlencode({"error": "reply", "reason": str(exc)[:300]})
        return redirect(f"/inbox/{target}?{query}")
    await _announce(request, workspace_id, pending.conversation_id)
    return _after_decision(request, pending.conversation_id, "reply_approved")


@router.post("/approvals/{pending_id}/reject")
async def reject_reply(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("reply.approve"))],
    pending_id: int,
    comment: Annotated[str, Form(max_length=approval.MAX_COMMENT * 2)] = "",
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.write() as session:
        try:
            pending = await approval.reject(
                session, viewer.actor, workspace_id, pending_id, comment
            )
        except actions.NotFound:
            raise PageError(404, i18n.gettext("There is no such reply waiting.")) from None
        except approval.AlreadyDecided:
            raise PageError(
                409, i18n.gettext("Someone else has already approved or rejected this reply.")
            ) from None
    await _announce(request, workspace_id, pending.conversation_id)
    return _after_decision(request, pending.conversation_id, "reply_rejected")
