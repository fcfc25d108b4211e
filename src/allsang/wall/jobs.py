"""Wall jobs: ``wall.media.purge`` trims the image cache once a day (see
:func:`allsang.wall.media.purge`). The worker imports this module to register them."""

from __future__ import annotations

from typing import Any

from allsang.jobs import JobContext, cron, handler
from allsang.wall import media

PURGE_KIND = "wall.media.purge"


@handler(PURGE_KIND)
async def purge_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await media.purge(ctx.runtime.db, ctx.runtime.settings.data_dir)


cron("40 3 * * *", PURGE_KIND, name=PURGE_KIND)
