"""What the conversation page shows of the inbox workflow: the reply box's modes and
limits, saved replies, replies held for approval, and when the page was opened (for the
collision check). Used by :mod:`allsang.web.routes.inbox` and :mod:`.inbox_workflow`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from allsang import i18n
from allsang.connectors import limits
from allsang.db.models import Channel, Conversation, Workspace
from allsang.db.types import utcnow
from allsang.inbox import approval, replies, saved_replies, snooze
from allsang.live import micros
from allsang.web.viewer import Viewer, runtime_of

MODE_LABELS = {"reply": i18n.N_("Public reply"), "direct": i18n.N_("Direct message")}


async def compose_context(
    request: Request, viewer: Viewer, page: Mapping[str, object]
) -> dict[str, Any]:
    """What the conversation page (whose context is ``page``: its ``conversation`` and
    ``channel``) needs for the reply box, snooze and held replies."""
    conversation, channel = page["conversation"], page["channel"]
    assert isinstance(conversation, Conversation)
    assert channel is None or isinstance(channel, Channel)
    workspace_id = viewer.actor.workspace_id or -1
    async with runtime_of(request).db.read() as session:
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None
        saved = (
            await saved_replies.available(session, workspace_id, conversation.department_id)
            if viewer.can("saved_reply.use")
            else []
        )
        held = await approval.pending_items(session, workspace_id, conversation_id=conversation.id)
        mine_rejected = (
            await approval.pending_items(
                session,
                workspace_id,
                conversation_id=conversation.id,
                author_person_id=viewer.actor.person_id,
                statuses=("rejected",),
            )
            if viewer.actor.person_id is not None
            else []
        )
    modes = replies.modes_for(channel)
    rules = {
        mode: limits.browser_rule(
            channel.network if channel else None,
            kind=mode,
            config=channel.config if channel else None,
        )
        for mode in modes
    }
    return {
        "draft": getattr(request.state, "draft", None) or {},
        "reply_modes": modes,
        "reply_rules": rules,
        "mode_label": lambda mode: i18n.gettext(MODE_LABELS.get(mode, mode)),
        "saved_replies": saved,
        "held_replies": held,
        "held_is_open": approval.is_open,
        "rejected_replies": mine_rejected[-3:],
        "needs_approval": replies.needs_approval(workspace, viewer.actor),
        "opened": micros(utcnow()),
        "snooze_presets": snooze.PRESETS,
        "time_zone": i18n.current_timezone(),
    }
