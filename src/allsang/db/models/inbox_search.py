"""Inbox full-text search: one search document per message (and one per conversation for its
subject and contact), and the queue that keeps those documents in step with the data.

The queue is filled by database triggers (migration 0006) on ``message``, ``conversation`` and
``contact``, so every writer — the bulk ingest path, replies and notes through the app, a
manual ``UPDATE`` — queues its rows in its own transaction; :mod:`allsang.inbox.search` turns
queued rows into documents. The terms themselves live in an engine-specific place:

* PostgreSQL: ``inbox_search_doc.document``, a ``tsvector`` with a GIN index;
* SQLite: the FTS5 table ``inbox_search_fts`` (rowid = ``inbox_search_doc.id``), created by the
  migration because the models cannot describe a virtual table; ``document`` stays NULL there.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from allsang.db.models import Base, _id


class InboxSearchDoc(Base):
    """The searchable form of one message (``message_id`` set) or of one conversation's
    subject, contact name and handle (``message_id`` NULL)."""

    __tablename__ = "inbox_search_doc"
    __table_args__ = (
        Index("ix_inbox_search_doc_conversation", "conversation_id", "message_id"),
        Index(
            "ix_inbox_search_doc_document",
            "document",
            postgresql_using="gin",
            sqlite_where=text("document IS NOT NULL"),  # never on SQLite: FTS5 holds the terms
        ),
        Index("ix_inbox_search_doc_intent", "intent", "conversation_id"),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("message.id", ondelete="CASCADE"), unique=True
    )
    lang: Mapped[str | None] = mapped_column(String(8))
    # The primary intent of an inbound message (allsang.listening.intent), for the intent filter.
    intent: Mapped[str | None] = mapped_column(String(20))
    document: Mapped[str | None] = mapped_column(TSVECTOR().with_variant(Text(), "sqlite"))


class InboxSearchPending(Base):
    """A message or conversation whose search document must be (re)built or dropped.

    Written by triggers in the same transaction as the change itself, so a crash can delay
    indexing but never lose it."""

    __tablename__ = "inbox_search_pending"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    message_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    conversation_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite")
    )
