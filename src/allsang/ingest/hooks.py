"""What every pipeline announces after a commit, wherever it runs (ingest, webhook, reprocess):
live hints to the inboxes, and new posts to the walls."""

from __future__ import annotations

from allsang.analytics.aggregate import commit_hook as analytics_commit_hook
from allsang.inbox.search import commit_hook as search_commit_hook
from allsang.inbox.snooze import commit_hook as snooze_commit_hook
from allsang.ingest.pipeline import CommitHook
from allsang.live import commit_hook as live_commit_hook
from allsang.live import open_broadcast
from allsang.runtime import Runtime
from allsang.wall.service import commit_hook as wall_commit_hook


def commit_hooks(runtime: Runtime) -> list[CommitHook]:
    broadcast = open_broadcast(runtime.settings.broadcast_url)
    return [
        search_commit_hook(runtime.db),
        live_commit_hook(runtime.db, broadcast),
        wall_commit_hook(runtime.db, broadcast),
        snooze_commit_hook(runtime.db, broadcast),
        analytics_commit_hook(runtime.db),
    ]
