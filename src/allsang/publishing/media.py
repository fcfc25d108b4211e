"""Media for posts: uploaded files kept in the data directory, with alt text.

Contracts:

* :func:`store_media` identifies the type from the bytes, never from the name or the browser's
  word: PNG, JPEG, GIF, WebP and AVIF images (:func:`allsang.safefetch.sniff_image`) and MP4
  video; anything else (SVG, HTML, executables) raises :class:`InvalidPost`. Images are at
  most :data:`MAX_IMAGE_BYTES`, videos :data:`MAX_VIDEO_BYTES`.
* Bytes are written to ``<data_dir>/post-media/<sha[:2]>/<sha256>`` (atomically, by rename)
  before the row is added to the caller's transaction; identical uploads share one file.
  Several web processes must share the data directory.
* Alt text is required by default: :func:`check_alt_text` (called when a post is submitted or
  scheduled) raises :class:`InvalidPost` for attached media without it, unless the workspace
  settings say ``{"publishing": {"alt_text_required": false}}``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from allsang import audit
from allsang.authz import Actor, authorize
from allsang.db.models import Workspace
from allsang.db.models.publishing import Post, PostMedia, PostVariant
from allsang.publishing.states import InvalidPost, NotFound
from allsang.safefetch import sniff_image

MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_VIDEO_BYTES = 40 * 1024 * 1024
MAX_ALT_TEXT = 1500  # Mastodon's limit for media descriptions
MAX_MEDIA_PER_VARIANT = 4


def sniff(content: bytes) -> tuple[str, str] | None:
    """``(content type, kind)`` of an upload from its first bytes, or None."""
    image = sniff_image(content[:16])
    if image is not None:
        return image, "gif" if image == "image/gif" else "image"
    if content[4:8] == b"ftyp" and content[8:12] in (b"isom", b"mp41", b"mp42", b"avc1", b"M4V "):
        return "video/mp4", "video"
    return None


def media_path(data_dir: Path, media: PostMedia) -> Path:
    """Where a media row's bytes are."""
    return data_dir / "post-media" / media.path


def _write(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
        handle.write(content)
    os.replace(handle.name, target)


async def store_media(
    session: AsyncSession,
    actor: Actor,
    data_dir: Path,
    content: bytes,
    *,
    filename: str = "",
    alt_text: str = "",
    post_id: int | None = None,
) -> PostMedia:
    """Check and keep an upload (``post.draft``); returns its row (flushed, so it has an id)."""
    authorize(actor, "post.draft")
    if actor.workspace_id is None:
        raise PermissionError("media belong to a workspace")
    if post_id is not None:
        post = await session.get(Post, post_id)
        if post is None or post.workspace_id != actor.workspace_id:
            raise NotFound(f"no post {post_id}")
    found = sniff(content)
    if found is None:
        raise InvalidPost(
            "only PNG, JPEG, GIF, WebP or AVIF images and MP4 videos can be posted", "file_type"
        )
    content_type, kind = found
    limit = MAX_VIDEO_BYTES if kind == "video" else MAX_IMAGE_BYTES
    if len(content) > limit:
        raise InvalidPost(f"the file is larger than {limit // (1024 * 1024)} MB", "file_size")
    digest = hashlib.sha256(content).hexdigest()
    relative = f"{digest[:2]}/{digest}"
    _write(data_dir / "post-media" / relative, content)
    media = PostMedia(
        workspace_id=actor.workspace_id,
        post_id=post_id,
        uploaded_by_id=actor.person_id,
        path=relative,
        filename=Path(filename).name[:300],
        content_type=content_type,
        kind=kind,
        size=len(content),
        sha256=digest,
        alt_text=alt_text.strip()[:MAX_ALT_TEXT],
    )
    session.add(media)
    await session.flush()
    audit.record(session, actor, "media.upload", "post_media", media.id, size=len(content))
    return media


async def set_alt_text(
    session: AsyncSession, actor: Actor, media_id: int, alt_text: str
) -> PostMedia:
    """Describe a media file for people who cannot see it (``post.draft``)."""
    authorize(actor, "post.draft")
    media = await session.get(PostMedia, media_id)
    if media is None or media.workspace_id != actor.workspace_id:
        raise NotFound(f"no media {media_id}")
    media.alt_text = alt_text.strip()[:MAX_ALT_TEXT]
    audit.record(session, actor, "media.alt_text", "post_media", media.id)
    return media


async def attach(
    session: AsyncSession, actor: Actor, post_id: int, channel_id: int, media_ids: Sequence[int]
) -> PostVariant:
    """Set the media of a post's variant for one channel, in order (``post.draft``)."""
    authorize(actor, "post.draft")
    variant = await session.scalar(
        select(PostVariant)
        .join(Post, Post.id == PostVariant.post_id)
        .where(
            PostVariant.post_id == post_id,
            PostVariant.channel_id == channel_id,
            Post.workspace_id == actor.workspace_id,
        )
    )
    if variant is None:
        raise NotFound(f"post {post_id} does not go to channel {channel_id}")
    ids = list(dict.fromkeys(int(m) for m in media_ids))
    if len(ids) > MAX_MEDIA_PER_VARIANT:
        raise InvalidPost(f"at most {MAX_MEDIA_PER_VARIANT} files per post")
    if ids:
        found = set(
            (
                await session.scalars(
                    select(PostMedia.id).where(
                        PostMedia.id.in_(ids), PostMedia.workspace_id == actor.workspace_id
                    )
                )
            ).all()
        )
        if missing := [m for m in ids if m not in found]:
            raise NotFound(f"no media {missing[0]}")
    variant.media_ids = ids
    return variant


async def check_alt_text(session: AsyncSession, post: Post) -> None:
    """Raise InvalidPost when media attached to the post lack alt text (unless the workspace
    turned the requirement off)."""
    workspace = await session.get(Workspace, post.workspace_id)
    publishing = ((workspace.settings or {}) if workspace else {}).get("publishing") or {}
    if publishing.get("alt_text_required", True) is False:
        return
    ids = {
        int(m)
        for variant in (
            await session.scalars(select(PostVariant).where(PostVariant.post_id == post.id))
        ).all()
        for m in variant.media_ids or ()
    }
    if not ids:
        return
    missing = (
        await session.scalars(
            select(PostMedia.filename).where(PostMedia.id.in_(ids), PostMedia.alt_text == "")
        )
    ).all()
    if missing:
        raise InvalidPost(
            "describe every image or video (alt text) before it is published", "alt_text"
        )
