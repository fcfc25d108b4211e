"""Uploads for posts: typed from their bytes, kept in the data directory, alt text required."""

from __future__ import annotations

import pytest

from allsang.db.models import Workspace
from allsang.publishing import media, service
from allsang.publishing.service import InvalidPost
from allsang.runtime import Runtime
from tests.publishing.conftest import Newsroom

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


async def test_an_image_is_kept_by_its_hash_and_other_files_are_refused(
    runtime: Runtime, room: Newsroom
) -> None:
    data_dir = runtime.settings.data_dir
    async with runtime.db.write() as session:
        first = await media.store_media(
            session, room.actor("contributor"), data_dir, PNG, filename="../../etc/bild.svg"
        )
        second = await media.store_media(session, room.actor("editor"), data_dir, PNG)
        with pytest.raises(InvalidPost):
            await media.store_media(session, room.actor("editor"), data_dir, SVG, filename="a.png")
    assert (first.content_type, first.kind, first.size) == ("image/png", "image", len(PNG))
    assert first.filename == "bild.svg" and first.path == second.path
    assert media.media_path(data_dir, first).read_bytes() == PNG


async def test_media_need_alt_text_unless_the_workspace_says_otherwise(
    runtime: Runtime, room: Newsroom
) -> None:
    contributor = room.actor("contributor")
    async with runtime.db.write() as session:
        post = await service.create_draft(
            session, contributor, body="Se bilden", channel_ids=[room.channel_id]
        )
        image = await media.store_media(session, contributor, runtime.settings.data_dir, PNG)
        await media.attach(session, contributor, post.id, room.channel_id, [image.id])
    async with runtime.db.write() as session:
        with pytest.raises(InvalidPost, match="alt text"):
            await service.submit_for_review(session, contributor, post.id)
    async with runtime.db.write() as session:
        workspace = await session.get(Workspace, room.workspace_id)
        assert workspace is not None
        workspace.settings = {"publishing": {"alt_text_required": False}}
    async with runtime.db.write() as session:
        await service.submit_for_review(session, contributor, post.id)
        await service.withdraw(session, contributor, post.id)
        await media.set_alt_text(session, contributor, image.id, "En röd stuga vid sjön")
    async with runtime.db.write() as session:
        await service.publish_now(session, room.actor("editor"), post.id)  # described now
