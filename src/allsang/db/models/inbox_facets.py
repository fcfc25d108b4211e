"""What the inbox filters and status tabs need, kept beside the conversations (migration 0015).

* ``conversation_facet``: one row per conversation and fact a filter asks about — ``all``
  (every conversation), ``unanswered`` (``waiting_since`` set), ``lang``/``sentiment`` (an
  inbound message in that language or with that sentiment) and ``intent`` (an inbound message's
  search document has that primary intent). ``status`` is the conversation's status while it
  has activity (``last_message_at`` set) and NULL before, i.e. NULL where the list would not
  show it.
* ``inbox_status_count``: signed changes to the number of listed conversations per workspace,
  facet and status; the sum of a key's rows is the count. Rows are only ever inserted by the
  writers (so concurrent writers never wait for each other on a shared counter row) and
  folded into one row per key by :func:`allsang.inbox.facets.compact`.

Both are written by database triggers in the same transaction as the change to ``message``,
``conversation`` or ``inbox_search_doc``, whoever makes it (see migration 0015).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from allsang.db.models import Base, _id
from allsang.db.types import BigId

FACET_KINDS = ("all", "unanswered", "lang", "sentiment", "intent")


class ConversationFacet(Base):
    __tablename__ = "conversation_facet"
    __table_args__ = (Index("ix_conversation_facet_value", "workspace_id", "kind", "value"),)

    conversation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    value: Mapped[str] = mapped_column(String(20), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspace.id", ondelete="CASCADE"))
    status: Mapped[str | None] = mapped_column(String(10))


class InboxStatusCount(Base):
    # No foreign key on workspace_id: deleting a workspace cascades to its facets, whose
    # triggers then write (cancelling) rows for that workspace while it is being deleted.
    __tablename__ = "inbox_status_count"
    __table_args__ = (
        Index("ix_inbox_status_count_key", "workspace_id", "kind", "value", "status"),
    )

    id: Mapped[int] = _id()
    workspace_id: Mapped[int] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(12))
    value: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    n: Mapped[int] = mapped_column(Integer)
