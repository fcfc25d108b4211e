"""Wall media: images fetched through the server (post images, screen logos) or uploaded.

The bytes live on disk in ``<data_dir>/wall-media/`` under the row's ``key``; the row says
what they are. A failed fetch is kept too (``state = "failed"``) so screens do not hammer a
broken address; it is tried again after :data:`allsang.wall.media.RETRY_FAILED`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from allsang.db.models import Base, _created, _id
from allsang.db.types import UTCDateTime


class WallMedia(Base):
    """One cached image. ``key`` is the SHA-256 (hex) of ``source``: the fetched address, or
    ``upload:<sha256 of the bytes>`` for an uploaded logo."""

    __tablename__ = "wall_media"

    id: Mapped[int] = _id()
    key: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10))  # ready | failed
    content_type: Mapped[str] = mapped_column(String(40), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(200), default="")
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()
