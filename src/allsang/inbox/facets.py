"""Reading the per-conversation facts and status counts that triggers keep
(:mod:`allsang.db.models.inbox_facets`, migration 0015).

A filter on language, sentiment or intent is one primary-key probe of ``conversation_facet``
per conversation the list walks, instead of a search through the conversation's messages or
documents. The status tabs read ``inbox_status_count`` when the list has at most one of those
facts as its only filter (the common views): a sum over a handful of rows, however large the
inbox. Any other combination is counted from the conversations, as before.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from allsang.db.models import CONVERSATION_STATUSES, Conversation
from allsang.db.models.inbox_facets import ConversationFacet, InboxStatusCount

Facet = tuple[str, str]  # (kind, value)


def has(kind: str, value: str) -> ColumnElement[bool]:
    """The listed conversation has the fact (a probe of the facet table's primary key)."""
    return exists().where(
        ConversationFacet.conversation_id == Conversation.id,
        ConversationFacet.kind == kind,
        ConversationFacet.value == value,
    )


async def counts(session: AsyncSession, workspace_id: int, facet: Facet) -> dict[str, int]:
    """Listed conversations per status that have ``facet`` (``("all", "")`` for every one)."""
    kind, value = facet
    rows = await session.execute(
        select(InboxStatusCount.status, func.sum(InboxStatusCount.n))
        .where(
            InboxStatusCount.workspace_id == workspace_id,
            InboxStatusCount.kind == kind,
            InboxStatusCount.value == value,
        )
        .group_by(InboxStatusCount.status)
    )
    found = {status: int(n) for status, n in rows.all()}
    return {status: found.get(status, 0) for status in CONVERSATION_STATUSES}


async def compact(session: AsyncSession) -> int:
    """Fold the count rows into one per key (dropping keys that sum to zero), in the caller's
    transaction; the number of rows folded. Writers only ever insert count rows, so this is
    what keeps reading a count cheap; it runs with every search catch-up."""
    key: list[Any] = [
        InboxStatusCount.workspace_id,
        InboxStatusCount.kind,
        InboxStatusCount.value,
        InboxStatusCount.status,
    ]
    if session.bind.dialect.name == "postgresql":
        # Sums exactly the rows it deletes: a concurrent writer's uncommitted rows are
        # neither, and are folded by a later run.
        result = await session.execute(
            text(
                "WITH gone AS (DELETE FROM inbox_status_count RETURNING workspace_id, kind, "
                "value, status, n), folded AS (INSERT INTO inbox_status_count "
                "(workspace_id, kind, value, status, n) SELECT workspace_id, kind, value, "
                "status, sum(n) FROM gone GROUP BY workspace_id, kind, value, status "
                "HAVING sum(n) <> 0) SELECT count(*) FROM gone"
            )
        )
        return int(result.scalar_one())
    # SQLite has one writer at a time (this transaction holds it): read, replace.
    rows = (
        await session.execute(
            select(*key, func.sum(InboxStatusCount.n), func.count()).group_by(*key)
        )
    ).all()
    total = sum(row[5] for row in rows)
    if total == len(rows):
        return 0
    await session.execute(delete(InboxStatusCount))
    folded = [
        {"workspace_id": w, "kind": k, "value": v, "status": s, "n": n}
        for w, k, v, s, n, _ in rows
        if n
    ]
    if folded:
        await session.execute(insert(InboxStatusCount), folded)
    return total


def single(facets: list[Facet], narrowed_otherwise: bool) -> Facet | None:
    """The one facet the status counts can be read for, or None when they must be counted:
    no facet means every conversation (``all``), two or more or any other filter cannot be
    read from the count rows."""
    if narrowed_otherwise or len(facets) > 1:
        return None
    return facets[0] if facets else ("all", "")
