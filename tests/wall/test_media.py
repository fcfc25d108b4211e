"""The wall image cache on disk: uploads, and the daily purge."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from allsang.db import Database
from allsang.db.models import Wall
from allsang.db.models.wall_media import WallMedia
from allsang.db.types import utcnow
from allsang.jobs import default_registry
from allsang.settings import Settings
from allsang.wall import jobs, media
from tests.wall.helpers import make_channel, make_wall

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 40


async def _age(db: Database, source: str, days: float) -> None:
    async with db.write() as session:
        await session.execute(
            update(WallMedia)
            .where(WallMedia.source == source)
            .values(fetched_at=utcnow() - timedelta(days=days))
        )


async def _sources(db: Database) -> set[str]:
    async with db.read() as session:
        return set(await session.scalars(select(WallMedia.source)))


async def test_an_upload_must_be_a_small_raster_image(db: Database, settings: Settings) -> None:
    source = await media.store_upload(db, settings.data_dir, PNG)
    assert source.startswith("upload:")
    found = await media.cached(db, settings.data_dir, source)
    assert found.content_type == "image/png" and found.path.read_bytes() == PNG
    for bad in (b"<svg><script>alert(1)</script></svg>", b"GIF", PNG + b"\x00" * 3_000_000):
        with pytest.raises(media.InvalidImage):
            await media.store_upload(db, settings.data_dir, bad)


async def test_the_purge_drops_old_copies_old_failures_and_unused_uploads(
    db: Database, settings: Settings
) -> None:
    data: Path = settings.data_dir
    used = await media.store_upload(db, data, PNG + b"used")
    unused = await media.store_upload(db, data, PNG + b"unused")
    fresh_unused = await media.store_upload(db, data, PNG + b"fresh")
    channel = await make_channel(db)
    wall_id = await make_wall(db, channel)
    async with db.write() as session:
        wall = await session.get(Wall, wall_id)
        assert wall is not None
        wall.logo_url = used
    # A fetched copy and a failure, recorded as the fetcher records them.
    await media._save(
        db,
        media.key_of("https://a.test/old.png"),
        "https://a.test/old.png",
        "ready",
        "image/png",
        3,
        "",
    )
    media._write(data, media.key_of("https://a.test/old.png"), b"old")
    await media._save(
        db,
        media.key_of("https://a.test/new.png"),
        "https://a.test/new.png",
        "ready",
        "image/png",
        3,
        "",
    )
    await media._save(
        db,
        media.key_of("https://a.test/bad"),
        "https://a.test/bad",
        "failed",
        "",
        0,
        "UnsupportedType",
    )
    for source in (used, unused):
        await _age(db, source, 400)
    await _age(db, "https://a.test/old.png", 31)
    await _age(db, "https://a.test/bad", 1)

    assert await media.purge(db, data) == 3
    assert await _sources(db) == {used, fresh_unused, "https://a.test/new.png"}
    assert not (data / "wall-media" / media.key_of(unused)[:2] / media.key_of(unused)).exists()
    assert not media._path(data, media.key_of("https://a.test/old.png")).exists()
    assert (await media.cached(db, data, used)).path.is_file()
    assert await media.purge(db, data) == 0


def test_the_purge_is_a_daily_cron_job() -> None:
    schedule = default_registry.schedules[jobs.PURGE_KIND]
    assert schedule.kind in default_registry.handlers
    assert schedule.expression == "40 3 * * *"
